//! The PC/SC test harness: starts `pcscd -f` (never `-a`, which logs every
//! APDU) and serves a simulated card to its vpcd driver from a thread; stops
//! both when dropped. Only one virtual card fits the slot, so tests that use
//! it must hold [`slot`] for their whole run.

use crate::suite::Rig;
use card_sim::SimCard;
use card_sim::vpcd::{self, Control, VirtualCard};
use host_driver::Meter;
use host_driver::transport::pcsc::{PcscTransport, list_readers};
use pcmeter::simulated::{AuthorityKeys, Options};
use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The reader vpcd's first slot appears as.
pub const READER: &str = "Virtual PCD 00 00";

static SLOT: Mutex<()> = Mutex::new(());

/// The lock file that serializes the slot across processes (vpcd listens on
/// one fixed port, so two test runs on one machine share the one slot).
const SLOT_LOCK_FILE: &str = "/tmp/pcmeter-vpcd-slot.lock";

/// Holds the virtual slot: a lock within this process and an exclusive
/// `flock` across processes, both released on drop.
pub struct SlotGuard {
    _file: File,
    _in_process: MutexGuard<'static, ()>,
}

/// Serializes the tests that use the virtual slot, within this process and
/// across processes (another `cargo test` on the same machine waits).
pub fn slot() -> SlotGuard {
    let in_process = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(SLOT_LOCK_FILE)
        .expect("open the vpcd slot lock file");
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("lock the vpcd slot");
    SlotGuard { _file: file, _in_process: in_process }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True when a pcscd is already running (then it is used and left alone).
fn pcscd_running() -> bool {
    Command::new("pidof").arg("pcscd").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Starts `pcscd -f` unless one runs, and waits for the vpcd reader.
fn spawn_pcscd() -> Option<Child> {
    let child = if pcscd_running() {
        None
    } else {
        let _ = std::fs::create_dir_all("/run/pcscd");
        let bin = if std::path::Path::new("/usr/sbin/pcscd").exists() { "/usr/sbin/pcscd" } else { "pcscd" };
        let child = Command::new(bin)
            .arg("-f")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pcscd is installed (scripts/test.sh installs it)");
        Some(child)
    };
    wait_for("the vpcd reader", Duration::from_secs(15), || {
        list_readers().is_ok_and(|r| r.iter().any(|n| n == READER))
    });
    child
}

/// pcscd plus a card server thread.
pub struct PcscRig {
    pcscd: Option<Child>,
    server: Option<(Control, JoinHandle<()>)>,
    control: Control,
}

impl PcscRig {
    /// Starts pcscd (unless one runs) and waits for the vpcd reader.
    pub fn start() -> Self {
        Self { pcscd: spawn_pcscd(), server: None, control: Control::default() }
    }

    /// Kills the pcscd this rig started and starts a new one.
    pub fn restart_pcscd(&mut self) {
        if let Some(mut child) = self.pcscd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.pcscd = spawn_pcscd();
    }

    /// Waits until a card is (or is not) in the reader.
    pub fn wait_card(&self, present: bool) {
        self.wait_present(present);
    }

    /// Puts `card` in the reader (replacing any card) and waits until PC/SC sees it.
    pub fn plug<C: VirtualCard + Send + 'static>(&mut self, mut card: C) {
        self.unplug();
        let control = Control::default();
        let c = control.clone();
        let handle = std::thread::spawn(move || {
            if let Err(e) = vpcd::serve(&mut card, vpcd::DEFAULT_ADDR, &c) {
                eprintln!("vpcd server: {e}");
            }
        });
        self.control = control.clone();
        self.server = Some((control, handle));
        self.wait_present(true);
    }

    /// Takes the card out and stops its server.
    pub fn unplug(&mut self) {
        if let Some((control, handle)) = self.server.take() {
            control.stop();
            let _ = handle.join();
            self.wait_present(false);
        }
    }

    fn wait_present(&self, present: bool) {
        wait_for(if present { "the card" } else { "the card to leave" }, Duration::from_secs(15), || {
            let ctx = match Context::establish(Scope::User) {
                Ok(c) => c,
                Err(_) => return false,
            };
            let reader = std::ffi::CString::new(READER).expect("reader name");
            match ctx.connect(&reader, ShareMode::Shared, Protocols::ANY) {
                Ok(card) => {
                    let _ = card.disconnect(Disposition::LeaveCard);
                    present
                }
                Err(_) => !present,
            }
        });
    }

    /// Removes the card and puts it back (a power cycle seen by every client).
    pub fn remove_card_and_reinsert(&mut self) {
        self.control.remove();
        self.wait_present(false);
        self.control.insert();
        self.wait_present(true);
    }

    /// A transport to the reader.
    pub fn transport(&self) -> PcscTransport {
        PcscTransport::connect(READER, false).expect("connect to the virtual reader")
    }
}

impl Drop for PcscRig {
    fn drop(&mut self) {
        if let Some((control, handle)) = self.server.take() {
            control.stop();
            let _ = handle.join();
        }
        if let Some(mut child) = self.pcscd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Rig for PcscRig {
    type T = PcscTransport;

    fn blank(&mut self, keys: &AuthorityKeys, opts: &Options) -> Meter<PcscTransport> {
        let serial =
            opts.card_serial.unwrap_or_else(|| card_sim::draw_serial(&mut card_sim::Entropy::Os).expect("serial"));
        let card =
            SimCard::manufacture_in_memory(&keys.issuer.public(), serial, opts.entropy.clone(), opts.clock.clone())
                .expect("manufacture");
        self.plug(card);
        Meter::connect(self.transport()).expect("select over PC/SC")
    }

    fn reset_card(&mut self) {
        // Another client disconnects with SCARD_RESET_CARD.
        let ctx = Context::establish(Scope::User).expect("context");
        let reader = std::ffi::CString::new(READER).expect("reader name");
        let card = ctx.connect(&reader, ShareMode::Shared, Protocols::ANY).expect("second client");
        card.disconnect(Disposition::ResetCard).map_err(|(_, e)| e).expect("reset");
    }

    fn remove_card(&mut self) {
        self.control.remove();
        self.wait_present(false);
    }

    fn insert_card(&mut self) {
        self.control.insert();
        self.wait_present(true);
    }
}
