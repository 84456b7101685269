//! fdatasync cost by write pattern on this file system (target/).
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::time::Instant;
fn main() {
    let path = std::path::Path::new("target/sync-pattern");
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).unwrap();
    f.write_all_at(&vec![0u8; 1 << 20], 0).unwrap();
    f.sync_all().unwrap();
    let n = 2000;
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            f.write_all_at(&[0xA5u8; 4096], 0).unwrap();
            f.sync_data().unwrap();
        }
        let same = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let t = Instant::now();
        for i in 0..n {
            f.write_all_at(&[0x5Au8; 268], (i * 268) as u64 % (1 << 20)).unwrap();
            f.sync_data().unwrap();
        }
        let append = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        let t = Instant::now();
        for i in 0..n {
            f.write_all_at(&[0x5Au8; 268], ((i % 15) * 268) as u64).unwrap();
            f.sync_data().unwrap();
        }
        let inblock = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!(
            "round {round}: same 4K block {same:.0} µs, 268 B appends {append:.0} µs, 268 B within one block {inblock:.0} µs"
        );
    }
    std::fs::remove_file(path).ok();
}
