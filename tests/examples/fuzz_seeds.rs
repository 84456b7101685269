//! Writes the seed corpora of the fuzz targets from the transcript vectors
//! and real card output: `cargo run -p tests --example fuzz_seeds`.
use std::path::PathBuf;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let vf = testkit::foundation_vectors();
    // Every well-formed command of the vectors, alone and as whole transcripts.
    let mut all = Vec::new();
    for t in &vf.transcripts {
        let apdus: Vec<Vec<u8>> = t.steps.iter().map(|s| s.capdu.clone()).collect();
        write("apdu_stream", &format!("transcript-{}", t.name), &testkit::oracle::join_apdus(&apdus));
        write("apdu_tlv", &format!("transcript-{}", t.name), &testkit::oracle::join_apdus(&apdus));
        all.extend(apdus);
    }
    for (i, a) in all.iter().enumerate() {
        write("apdu_stream", &format!("apdu-{i:03}"), &testkit::oracle::join_apdus(std::slice::from_ref(a)));
    }
    let keys = testkit::vector_keys();
    let profile =
        pcmeter::simulated::signed_profile(&keys, &testkit::vector_options(), testkit::VECTOR_SERIAL).unwrap();
    write("personalization", "vector-profile", &profile);
    let table = testkit::signed_table(2, testkit::FIXTURE_TIME, |_| {});
    write("rate_table", "signed-v2", &table);
    write("rate_table", "body-v2", &authority::default_rate_table(2, 0).encode_body());
    let mut c = testkit::DirectCard::operational();
    c.verify("123456");
    let (ind, _) = c.print(1, 20);
    write("indicium_verify", "real-indicium", &ind);
    let mut responses = Vec::new();
    for a in [
        testkit::select_apdu(),
        vec![0x00, 0xCA, 0xDF, 0x20, 0x00],
        vec![0x00, 0xCA, 0xDF, 0x21, 0x00],
        vec![0x00, 0xCA, 0xDF, 0x22, 0x00],
    ] {
        responses.push(c.card.transmit(&a).unwrap());
    }
    responses.push(vec![0x90, 0x00]);
    write("host_responses", "real-responses", &testkit::oracle::join_apdus(&responses));
    let mut frames = Vec::new();
    for p in [&[0x01u8][..], &[0x04], &testkit::select_apdu(), &[0x02], &[0x00]] {
        frames.extend_from_slice(&(p.len() as u16).to_be_bytes());
        frames.extend_from_slice(p);
    }
    write("vpcd_frame", "session", &frames);
    pki_seeds();
    println!("seed corpora written under fuzz/corpus/");
}

/// Real certificates, a CSR envelope, a postmark token, its card parts and a CRL.
fn pki_seeds() {
    use apdu_specs::x509::Usage;
    use testkit::pki;
    let keys = pcmeter::simulated::AuthorityKeys::from_seed("fuzz seeds");
    let sim = pcmeter::simulated::operational(&keys, &pcmeter::simulated::Options::at(testkit::FIXTURE_TIME, 100_000))
        .unwrap();
    let mut meter = sim.meter;
    let mut ca = pki::ca_for(&keys);
    let id = pki::register(&mut ca, &mut meter);
    meter.run(|tx| tx.verify_pin(&sim.pin)).unwrap();
    let pm = pki::certified(&mut meter, &mut ca, 0, Usage::Postmark).unwrap();
    let agent = pki::certified(&mut meter, &mut ca, 1, Usage::Agent).unwrap();
    meter.run(|tx| tx.generate_key_pair(2, Usage::Signature)).unwrap();
    let request = pki::request(&mut meter, &mut ca, 2);
    let parts = meter.run(|tx| tx.postmark_parts(0, Some(&[3; 32]), None)).unwrap();
    let token = meter.run(|tx| tx.postmark_digest(0, &[3; 32])).unwrap();
    ca.revoke(&apdu_specs::x509::Certificate::parse(&pm).unwrap().serial, 1, testkit::FIXTURE_TIME).unwrap();
    let crl = ca.crl(testkit::FIXTURE_TIME, 86_400).unwrap();
    let _ = id;
    for (name, bytes) in [
        ("root", ca.certificate().to_vec()),
        ("postmark-cert", pm),
        ("agent-cert", agent),
        ("request-envelope", request),
        ("postmark-parts", parts),
        ("token", token),
        ("crl", crl),
    ] {
        write("pki_parsers", name, &bytes);
    }
}
