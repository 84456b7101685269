//! The crypto engines by name, and the aws-lc-rs engine against the soft
//! engine: byte for byte wherever the result is not random, and each
//! accepting exactly what the other accepts.

use card_sim::{Engine, EngineError};

#[test]
fn engines_are_named_as_the_command_line_names_them() {
    for engine in Engine::compiled() {
        assert_eq!(engine.name().parse::<Engine>(), Ok(*engine));
        assert_eq!(engine.to_string(), engine.name());
        assert!(Engine::KNOWN.contains(&engine.name()));
    }
    assert_eq!(Engine::default(), Engine::Soft);
    assert_eq!("rsa".parse::<Engine>(), Err(EngineError::Unknown("rsa".into())));
    assert!(matches!("".parse::<Engine>(), Err(EngineError::Unknown(_))));
    assert!("AWS-LC".parse::<Engine>().is_err(), "names are exact");
}

#[cfg(not(feature = "aws-lc-engine"))]
#[test]
fn aws_lc_is_refused_when_not_compiled_in() {
    let err = "aws-lc".parse::<Engine>().unwrap_err();
    assert_eq!(err, EngineError::NotCompiled { name: "aws-lc", feature: "aws-lc" });
    assert!(err.to_string().contains("feature `aws-lc`"), "{err}");
    assert_eq!(Engine::compiled(), &[Engine::Soft]);
}

#[cfg(feature = "aws-lc-engine")]
mod aws_lc {
    use apdu_specs::p256_signature::{ORDER, is_low_s, twin};
    use card_core::platform::{CryptoEngine, CryptoError, SecretKey, Sha256State};
    use card_core::soft_engine::{NoEntropy, SoftEngine};
    use card_sim::aws_lc_engine::{AwsLcEngine, KEY_CACHE};
    use card_sim::{Engine, Entropy, MemoryStore, SimClock, SimPlatform};

    fn pair(seed: u64) -> (SoftEngine<Entropy>, AwsLcEngine<Entropy>) {
        (SoftEngine::new(Entropy::seeded(seed)), AwsLcEngine::new(Entropy::seeded(seed)))
    }

    /// A message of `len` bytes that is not all one value.
    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + len) as u8).collect()
    }

    #[test]
    fn the_platform_runs_the_engine_it_was_given() {
        let platform = SimPlatform::with_engine(Engine::AwsLc, MemoryStore::new(), Entropy::Os, SimClock::fixed(0));
        assert_eq!(platform.engine(), Engine::AwsLc);
        assert_eq!(Engine::compiled(), &[Engine::Soft, Engine::AwsLc]);
    }

    #[test]
    fn the_fips_module_runs_exactly_when_built_with_aws_lc_fips() {
        assert_eq!(AwsLcEngine::<NoEntropy>::fips_mode(), cfg!(feature = "aws-lc-fips"));
    }

    #[test]
    fn the_same_random_stream_makes_the_same_keys() {
        let (mut soft, mut aws) = pair(42);
        for _ in 0..8 {
            let (soft_secret, soft_public) = soft.p256_generate().unwrap();
            let (aws_secret, aws_public) = aws.p256_generate().unwrap();
            assert_eq!(soft_secret.0, aws_secret.0);
            assert_eq!(soft_public, aws_public);
            assert!(soft.p256_valid_public(&aws_public) && aws.p256_valid_public(&soft_public));
        }
        // Signing draws from the stream on both engines, so it stays aligned.
        let (key, _) = soft.p256_generate().unwrap();
        soft.p256_sign_digest(&key, &[1; 32]).unwrap();
        aws.p256_generate().unwrap();
        aws.p256_sign_digest(&key, &[1; 32]).unwrap();
        assert_eq!(soft.p256_generate().unwrap().1, aws.p256_generate().unwrap().1);
    }

    #[test]
    fn signatures_cross_verify_and_are_low_s() {
        let (mut soft, mut aws) = pair(1);
        for round in 0..32u8 {
            let (key, public) = soft.p256_generate().unwrap();
            let digest = [round; 32];
            let by_aws = aws.p256_sign_digest(&key, &digest).unwrap();
            let by_soft = soft.p256_sign_digest(&key, &digest).unwrap();
            for signature in [by_aws, by_soft] {
                assert!(is_low_s(&signature));
                assert!(soft.p256_verify_digest(&public, &digest, &signature));
                assert!(aws.p256_verify_digest(&public, &digest, &signature));
                // The twin is a valid raw ECDSA signature, refused under the low-S rule.
                let high = twin(&signature);
                assert!(soft.p256_ecdsa_verify(&public, &digest, &high));
                assert!(aws.p256_ecdsa_verify(&public, &digest, &high));
                assert!(!soft.p256_verify_digest(&public, &digest, &high));
                assert!(!aws.p256_verify_digest(&public, &digest, &high));
                let mut other = digest;
                other[31] ^= 1;
                assert!(!aws.p256_verify_digest(&public, &other, &signature));
            }
        }
    }

    #[test]
    fn the_raw_engine_signs_either_s_and_the_rule_normalizes_it() {
        let (mut soft, mut aws) = pair(2);
        let (key, public) = soft.p256_generate().unwrap();
        let high_seen = (0..64u8).any(|i| {
            let raw = aws.p256_ecdsa_sign(&key, &[i; 32]).unwrap();
            assert!(soft.p256_ecdsa_verify(&public, &[i; 32], &raw));
            !is_low_s(&raw)
        });
        assert!(high_seen, "64 raw signatures without one high s: the raw engine is not raw");
    }

    #[test]
    fn both_engines_refuse_the_same_bad_points() {
        let (mut soft, aws) = pair(3);
        let (key, public) = soft.p256_generate().unwrap();
        let signature = soft.p256_sign_digest(&key, &[5; 32]).unwrap();
        let mut off_curve = public;
        off_curve[64] ^= 1;
        let mut compressed = [0u8; 33];
        compressed.copy_from_slice(&public[..33]);
        compressed[0] = 0x02 | (public[64] & 1);
        let mut hybrid = public;
        hybrid[0] = 0x06 | (public[64] & 1);
        let mut x_too_big = public;
        x_too_big[1..33].copy_from_slice(&[0xFF; 32]);
        let bad: [&[u8]; 7] = [&off_curve, &compressed, &hybrid, &x_too_big, &public[..64], &[0u8; 65], &[]];
        for point in bad {
            assert!(!soft.p256_valid_public(point) && !aws.p256_valid_public(point), "{point:02X?}");
            assert!(!aws.p256_verify_digest(point, &[5; 32], &signature));
            assert_eq!(aws.p256_ecdh(&key, point).err(), Some(CryptoError::InvalidKey));
            assert_eq!(soft.p256_ecdh(&key, point).err(), Some(CryptoError::InvalidKey));
        }
        assert!(aws.p256_verify_digest(&public, &[5; 32], &signature));
        let (mut zero_r, mut s_is_n) = (signature, signature);
        zero_r[..32].fill(0);
        s_is_n[32..].copy_from_slice(&ORDER);
        for forged in [zero_r, s_is_n, [0; 64]] {
            assert!(!aws.p256_ecdsa_verify(&public, &[5; 32], &forged));
            assert!(!soft.p256_ecdsa_verify(&public, &[5; 32], &forged));
        }
    }

    #[test]
    fn both_engines_refuse_the_same_bad_scalars() {
        let (mut soft, mut aws) = pair(4);
        let (_, peer) = soft.p256_generate().unwrap();
        let mut above_order = ORDER;
        above_order[31] += 1;
        for scalar in [[0u8; 32], ORDER, above_order, [0xFF; 32]] {
            let key = SecretKey(scalar);
            assert_eq!(aws.p256_sign_digest(&key, &[1; 32]), Err(CryptoError::InvalidKey));
            assert_eq!(soft.p256_sign_digest(&key, &[1; 32]), Err(CryptoError::InvalidKey));
            assert_eq!(aws.p256_ecdh(&key, &peer).err(), Some(CryptoError::InvalidKey));
            assert_eq!(soft.p256_ecdh(&key, &peer).err(), Some(CryptoError::InvalidKey));
        }
        // n - 1 is the largest valid scalar; 1 is the smallest, and 1 · P is P.
        let mut largest = ORDER;
        largest[31] -= 1;
        let largest = SecretKey(largest);
        let largest_public = soft.p256_ecdh(&largest, &peer).map(|_| ());
        assert_eq!(largest_public, Ok(()));
        let signature = aws.p256_sign_digest(&largest, &[1; 32]).unwrap();
        assert!(is_low_s(&signature));
        let mut one = [0u8; 32];
        one[31] = 1;
        let one = SecretKey(one);
        assert_eq!(*aws.p256_ecdh(&one, &peer).unwrap(), peer[1..33]);
        assert_eq!(*soft.p256_ecdh(&one, &peer).unwrap(), peer[1..33]);
    }

    #[test]
    fn ecdh_agrees_across_engines() {
        let (mut soft, mut aws) = pair(5);
        for _ in 0..8 {
            let (a, a_public) = soft.p256_generate().unwrap();
            let (b, b_public) = aws.p256_generate().unwrap();
            let by_aws = aws.p256_ecdh(&a, &b_public).unwrap();
            let by_soft = soft.p256_ecdh(&b, &a_public).unwrap();
            assert_eq!(*by_aws, *by_soft);
            assert_eq!(*by_aws, *soft.p256_ecdh(&a, &b_public).unwrap());
        }
    }

    #[test]
    fn hashes_and_macs_are_the_same_bytes() {
        let (soft, aws) = pair(6);
        for len in [0usize, 1, 55, 56, 63, 64, 65, 1000, 8192] {
            let data = message(len);
            let (left, right) = data.split_at(len / 3);
            assert_eq!(soft.sha256(&[&data]), aws.sha256(&[&data]), "{len}");
            assert_eq!(aws.sha256(&[left, right]), aws.sha256(&[&data]));
            let mut incremental = aws.sha256_start();
            for chunk in data.chunks(17) {
                incremental.update(chunk);
            }
            assert_eq!(incremental.finish(), soft.sha256(&[&data]));
            for key_len in [0usize, 32, 64, 65, 200] {
                let key = message(key_len + 1);
                let key = &key[..key_len];
                assert_eq!(soft.hmac_sha256(key, &[left, right]), aws.hmac_sha256(key, &[&data]), "{len}/{key_len}");
            }
        }
        // FIPS 180-2 "abc".
        assert_eq!(
            hex::encode(aws.sha256(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn aes_gcm_is_the_same_bytes_and_refuses_the_same_forgeries() {
        let (soft, aws) = pair(7);
        let key = [0x42; 32];
        let nonce = [9; 12];
        for len in [0usize, 1, 16, 17, 300] {
            let plaintext = message(len);
            let aad = message(len % 7);
            let sealed = aws.aes256_gcm_seal(&key, &nonce, &aad, &plaintext).unwrap();
            assert_eq!(sealed, soft.aes256_gcm_seal(&key, &nonce, &aad, &plaintext).unwrap());
            assert_eq!(sealed.len(), len + 16);
            assert_eq!(*aws.aes256_gcm_open(&key, &nonce, &aad, &sealed).unwrap(), plaintext);
            for flip in [0, sealed.len() - 1] {
                let mut forged = sealed.clone();
                forged[flip] ^= 1;
                assert_eq!(aws.aes256_gcm_open(&key, &nonce, &aad, &forged).err(), Some(CryptoError::Unauthentic));
                assert_eq!(soft.aes256_gcm_open(&key, &nonce, &aad, &forged).err(), Some(CryptoError::Unauthentic));
            }
            let mut other_aad = aad.clone();
            other_aad.push(0);
            assert_eq!(aws.aes256_gcm_open(&key, &nonce, &other_aad, &sealed).err(), Some(CryptoError::Unauthentic));
        }
        for short in [&[][..], &[0u8; 15][..]] {
            assert_eq!(aws.aes256_gcm_open(&key, &nonce, &[], short).err(), Some(CryptoError::Unauthentic));
            assert_eq!(soft.aes256_gcm_open(&key, &nonce, &[], short).err(), Some(CryptoError::Unauthentic));
        }
    }

    #[test]
    fn without_a_random_source_nothing_is_signed_or_generated() {
        let mut aws = AwsLcEngine::new(NoEntropy);
        let mut soft = SoftEngine::new(NoEntropy);
        let mut k = [0u8; 32];
        k[31] = 3;
        let key = SecretKey(k);
        assert_eq!(aws.p256_sign_digest(&key, &[1; 32]), Err(CryptoError::Rng));
        assert_eq!(soft.p256_sign_digest(&key, &[1; 32]), Err(CryptoError::Rng));
        assert_eq!(aws.p256_generate().err(), Some(CryptoError::Rng));
        assert_eq!(aws.fill_random(&mut [0u8; 4]), Err(CryptoError::Rng));
        // An invalid key is refused as such before the random source is asked.
        let zero = SecretKey([0; 32]);
        assert_eq!(aws.p256_sign_digest(&zero, &[1; 32]), Err(CryptoError::InvalidKey));
        assert_eq!(soft.p256_sign_digest(&zero, &[1; 32]), Err(CryptoError::InvalidKey));
    }

    #[test]
    fn more_keys_than_the_cache_holds_all_sign_with_their_own_key() {
        let (mut soft, mut aws) = pair(8);
        let keys: Vec<_> = (0..KEY_CACHE + 3).map(|_| soft.p256_generate().unwrap()).collect();
        for round in 0..2u8 {
            for (i, (key, public)) in keys.iter().enumerate() {
                let digest = [round.wrapping_add(i as u8); 32];
                let signature = aws.p256_sign_digest(key, &digest).unwrap();
                assert!(soft.p256_verify_digest(public, &digest, &signature), "key {i} round {round}");
                if i == KEY_CACHE {
                    aws.forget_keys();
                }
            }
        }
        assert!(format!("{aws:?}").contains("cached_keys"), "Debug shows a count, never a key");
    }
}
