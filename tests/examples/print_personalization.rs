//! Prints the fixture lines and personalization APDUs of the vector file.
fn main() {
    let keys = tests::vector_keys();
    let opts = tests::vector_options();
    println!("! anchor {}", hex::encode_upper(keys.issuer.public()));
    println!("! time {}", tests::FIXTURE_TIME);
    for a in tests::personalization_apdus(&keys, &opts) {
        println!("> {}", hex::encode_upper(a));
        println!("< 9000");
    }
}
