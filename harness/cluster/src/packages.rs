//! Installing the Debian packages a test needs, on demand, on this machine.
//!
//! `labrys test`, `labrys cluster up` and `labrys doctor --install` share one rule: find what is
//! missing (one `dpkg-query` per package), and, as root, install all of it with one `apt-get
//! update` and one `apt-get install`, saying so first; not as root, stop at once with the
//! command that would. Nothing here guesses: after installing, the packages are probed again and
//! any still missing is an error naming them.
//!
//! The package manager is behind [`Packages`] so the decision logic is tested without touching
//! the machine. The real one, [`Apt`], runs `dpkg-query` and `apt-get`; the environment variables
//! `LABRYS_DPKG_QUERY` and `LABRYS_APT_GET` replace those two programs (a wrapper that adds a
//! proxy, or a fake in the command-line tests of the install path).

use std::process::{Command, Stdio};

/// Probing for and installing packages.
pub trait Packages {
    /// Which of `pkgs` are not installed, in the order given.
    fn missing(&self, pkgs: &[&str]) -> Vec<String>;
    /// Installs `pkgs` (one update, one install). `Err` carries what the tool printed.
    fn install(&self, pkgs: &[String]) -> Result<(), String>;
}

/// Why the packages a step needs are not there.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("missing Debian packages {missing}; installing them needs root. As root, run: {command}", missing = .missing.join(" "))]
    NotRoot {
        missing: Vec<String>,
        command: String,
    },
    #[error("installing {packages} failed: {msg}. The command was: {command}", packages = .packages.join(" "))]
    Failed {
        packages: Vec<String>,
        msg: String,
        command: String,
    },
    #[error("apt-get finished but {still} is still not installed. Try by hand: {command}", still = .still.join(" "))]
    StillMissing { still: Vec<String>, command: String },
}

/// The command a person runs to install `pkgs` (shown in every error and in `doctor`).
pub fn install_command<S: AsRef<str>>(pkgs: &[S]) -> String {
    let names: Vec<&str> = pkgs.iter().map(AsRef::as_ref).collect();
    format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
        names.join(" ")
    )
}

/// Installs whichever of `pkgs` are missing. `say` gets one line before apt-get runs (installing
/// takes 15-60 s and must not look like a hang). Returns the packages it installed.
pub fn ensure(
    pm: &dyn Packages,
    pkgs: &[&str],
    root: bool,
    say: &dyn Fn(&str),
) -> Result<Vec<String>, InstallError> {
    let missing = pm.missing(pkgs);
    if missing.is_empty() {
        return Ok(missing);
    }
    let command = install_command(&missing);
    if !root {
        return Err(InstallError::NotRoot { missing, command });
    }
    say(&format!(
        "installing missing Debian packages: {} (apt-get update, then apt-get install)",
        missing.join(" ")
    ));
    pm.install(&missing).map_err(|msg| InstallError::Failed {
        packages: missing.clone(),
        msg,
        command: command.clone(),
    })?;
    let names: Vec<&str> = missing.iter().map(String::as_str).collect();
    let still = pm.missing(&names);
    if !still.is_empty() {
        return Err(InstallError::StillMissing { still, command });
    }
    say(&format!("installed {}", missing.join(" ")));
    Ok(missing)
}

/// [`ensure`] on this machine: Debian's tools (or the ones the environment names), as root
/// only when this process is root.
pub fn ensure_here(pkgs: &[&str], say: &dyn Fn(&str)) -> Result<Vec<String>, InstallError> {
    ensure(&Apt::default(), pkgs, crate::sys::is_root(), say)
}

/// Debian's dpkg and apt-get (or the programs the environment names instead).
#[derive(Clone, Debug)]
pub struct Apt {
    dpkg_query: String,
    apt_get: String,
}

impl Default for Apt {
    fn default() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Apt {
            dpkg_query: var("LABRYS_DPKG_QUERY", "dpkg-query"),
            apt_get: var("LABRYS_APT_GET", "apt-get"),
        }
    }
}

impl Apt {
    fn apt(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.apt_get)
            .args(["-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.apt_get))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim();
        Err(if err.is_empty() {
            format!("{} {} exited with {}", self.apt_get, args[0], out.status)
        } else {
            err.to_string()
        })
    }
}

impl Packages for Apt {
    fn missing(&self, pkgs: &[&str]) -> Vec<String> {
        pkgs.iter()
            .filter(|p| {
                let out = Command::new(&self.dpkg_query)
                    .args(["-W", "-f=${Status}", p])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output();
                !matches!(out, Ok(o) if o.status.success()
                    && String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
            })
            .map(|p| p.to_string())
            .collect()
    }

    fn install(&self, pkgs: &[String]) -> Result<(), String> {
        self.apt(&["update", "-qq"])?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(pkgs.iter().map(String::as_str));
        // Database packages start their service on install (PostgreSQL its `main` cluster,
        // Redis and MariaDB their servers): labrys runs its own servers on the nodes, so none
        // may start on the host. Debian's policy-rc.d says so for the length of the install.
        let _no_services = NoServiceStarts::new(self.apt_get == "apt-get");
        self.apt(&args)
    }
}

/// While alive, `/usr/sbin/policy-rc.d` answers 101 ("action forbidden"), so that package
/// scripts start no service; the file is removed again when dropped. A policy the machine
/// has already is left alone (and obeyed).
struct NoServiceStarts(Option<&'static str>);

impl NoServiceStarts {
    const PATH: &'static str = "/usr/sbin/policy-rc.d";

    fn new(real_apt: bool) -> NoServiceStarts {
        if !real_apt || std::path::Path::new(Self::PATH).exists() {
            return NoServiceStarts(None);
        }
        let body =
            "#!/bin/sh\n# written by labrys for the length of one apt-get install\nexit 101\n";
        let written = std::fs::write(Self::PATH, body).and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(Self::PATH, std::fs::Permissions::from_mode(0o755))
        });
        NoServiceStarts(written.ok().map(|()| Self::PATH))
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// A package manager over a set of installed names; `install` adds them unless told to fail
    /// or to do nothing.
    struct Fake {
        installed: RefCell<BTreeSet<String>>,
        installs: RefCell<Vec<Vec<String>>>,
        fail: Option<&'static str>,
        no_effect: bool,
    }

    fn fake(installed: &[&str]) -> Fake {
        Fake {
            installed: RefCell::new(installed.iter().map(|s| s.to_string()).collect()),
            installs: RefCell::new(Vec::new()),
            fail: None,
            no_effect: false,
        }
    }

    impl Packages for Fake {
        fn missing(&self, pkgs: &[&str]) -> Vec<String> {
            let have = self.installed.borrow();
            pkgs.iter()
                .filter(|p| !have.contains(**p))
                .map(|p| p.to_string())
                .collect()
        }
        fn install(&self, pkgs: &[String]) -> Result<(), String> {
            self.installs.borrow_mut().push(pkgs.to_vec());
            if let Some(e) = self.fail {
                return Err(e.into());
            }
            if !self.no_effect {
                self.installed.borrow_mut().extend(pkgs.iter().cloned());
            }
            Ok(())
        }
    }

    #[test]
    fn nothing_missing_installs_nothing_and_says_nothing() {
        let pm = fake(&["a", "b"]);
        let said = RefCell::new(Vec::<String>::new());
        let got = ensure(&pm, &["a", "b"], true, &|s| {
            said.borrow_mut().push(s.into())
        })
        .unwrap();
        assert!(got.is_empty());
        assert!(pm.installs.borrow().is_empty());
        assert!(said.borrow().is_empty());
    }

    #[test]
    fn missing_packages_are_installed_in_one_call_after_a_line_saying_so() {
        let pm = fake(&["b"]);
        let said = RefCell::new(Vec::<String>::new());
        let got = ensure(&pm, &["a", "b", "c"], true, &|s| {
            said.borrow_mut().push(s.into())
        })
        .unwrap();
        assert_eq!(got, ["a", "c"]);
        assert_eq!(
            *pm.installs.borrow(),
            vec![vec!["a".to_string(), "c".into()]]
        );
        let said = said.borrow();
        assert!(
            said[0].contains("installing missing Debian packages: a c"),
            "{said:?}"
        );
        assert!(pm.missing(&["a", "b", "c"]).is_empty());
    }

    #[test]
    fn not_root_stops_at_once_with_the_command() {
        let pm = fake(&[]);
        let e = ensure(&pm, &["openssh-server", "etcd-server"], false, &|_| {}).unwrap_err();
        assert!(pm.installs.borrow().is_empty());
        let msg = e.to_string();
        assert!(msg.contains("needs root"), "{msg}");
        assert!(
            msg.contains("apt-get install -y --no-install-recommends openssh-server etcd-server"),
            "{msg}"
        );
    }

    #[test]
    fn a_failed_or_ineffective_install_is_an_error_naming_the_packages() {
        let mut pm = fake(&[]);
        pm.fail = Some("E: Unable to locate package etcd-server");
        let msg = ensure(&pm, &["etcd-server"], true, &|_| {})
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("installing etcd-server failed: E: Unable to locate"),
            "{msg}"
        );
        assert!(msg.contains("apt-get update &&"), "{msg}");

        let mut pm = fake(&[]);
        pm.no_effect = true;
        let e = ensure(&pm, &["faketime"], true, &|_| {}).unwrap_err();
        assert!(
            matches!(e, InstallError::StillMissing { ref still, .. } if still == &["faketime"])
        );
    }

    #[test]
    fn apt_probe_and_install_use_the_programs_the_environment_names() {
        // A fake dpkg-query that knows one package, and a fake apt-get that fails loudly.
        let dir = std::env::temp_dir().join(format!("labrys-apt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dpkg = dir.join("dpkg-query");
        let apt = dir.join("apt-get");
        std::fs::write(
            &dpkg,
            "#!/bin/sh\nfor a; do p=$a; done\n[ \"$p\" = have ] && { printf 'install ok installed'; exit 0; }\nexit 1\n",
        )
        .unwrap();
        std::fs::write(
            &apt,
            "#!/bin/sh\necho \"E: no network for $*\" >&2\nexit 100\n",
        )
        .unwrap();
        for f in [&dpkg, &apt] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let pm = Apt {
            dpkg_query: dpkg.display().to_string(),
            apt_get: apt.display().to_string(),
        };
        assert_eq!(pm.missing(&["have", "lack"]), ["lack"]);
        let err = pm.install(&["lack".into()]).unwrap_err();
        assert!(
            err.contains("E: no network for -o DPkg::Lock::Timeout=300 update"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
