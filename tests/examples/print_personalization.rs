//! Prints the fixture lines and personalization APDUs of the vector file.
fn main() {
    let keys = testkit::vector_keys();
    let opts = testkit::vector_options();
    println!("! anchor {}", hex::encode_upper(keys.issuer.public()));
    println!("! time {}", testkit::FIXTURE_TIME);
    for a in testkit::personalization_apdus(&keys, &opts) {
        println!("> {}", hex::encode_upper(a));
        println!("< 9000");
    }
}
