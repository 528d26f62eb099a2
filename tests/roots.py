"""Builders of realistic Linux root trees (for `tenken scan local --root DIR`) in a test's tmp_path.

Plain functions, so other features can add their own files to the same trees:

    root = tmp_path / "root"
    make_good_root(root)                 # a hardened Debian 12 host
    make_weak_root(root, layout="rhel")  # a neglected RHEL 9 host
    write_file(root, "/etc/chrony/chrony.conf", "server ntp.nict.jp iburst\\n")

Every secret planted here is listed in SECRETS so tests can assert none of them reaches a report.
"""

from __future__ import annotations

import os
from pathlib import Path

# Hashes are syntactically real crypt(5) strings (scheme, salt, digest) for made-up passwords.
YESCRYPT_ROOT = "$y$j9T$Mx4dW0Lr7q8nB1s2c3d4e/$Qz3V0qG8xJm1yW6tNcR2kPa9sLfE4hUoD7bTiZ5wXv0"
YESCRYPT_ALICE = "$y$j9T$2pQ9vL0kX7sA3dF6gH8jK.$N5rT1yU4iO7pA0sD3fG6hJ9kL2zX5cV8bN1mQ4wE7r."
MD5_HASH = "$1$Wq7eRt9Y$3kL0pZ8xV6nB4mC2aS1dF/"
DES_HASH = "aZ4Lq8Xk2mPwQ"
CIFS_PASSWORD = "Tr0ub4dor&3-cifs"
MYSQL_PASSWORD = "dbAdm1n!Secret"
SSSD_AUTHTOK = "ldapBind#2024"
SECRETS = (YESCRYPT_ROOT, YESCRYPT_ALICE, MD5_HASH, DES_HASH, CIFS_PASSWORD, MYSQL_PASSWORD, SSSD_AUTHTOK)


def write_file(root: Path, path: str, text: str | bytes, mode: int = 0o644) -> Path:
    """Write `text` at the in-image absolute `path` under `root`, creating directories."""
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    os.chmod(p, mode)
    return p


def symlink(root: Path, path: str, target: str) -> Path:
    """A symlink inside the image; absolute targets point into the image (RootTransport resolves them there)."""
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.exists():
        p.unlink()
    p.symlink_to(target)
    return p


def dpkg_status(packages: dict[str, str]) -> str:
    """A /var/lib/dpkg/status with these packages installed."""
    return "\n".join(
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: {ver}\n"
        f"Description: {name}\n"
        for name, ver in packages.items()
    )


# ---------------------------------------------------------------------------------------------------
# accounts


def write_accounts(root: Path, *, weak: bool) -> None:
    passwd = [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
        "sshd:x:105:65534::/run/sshd:/usr/sbin/nologin",
        "alice:x:1000:1000:Alice Sato:/home/alice:/bin/bash",
    ]
    shadow = [
        f"root:{YESCRYPT_ROOT}:19700:0:99999:7:::",
        "daemon:*:19700:0:99999:7:::",
        "sshd:!:19700::::::",
        f"alice:{YESCRYPT_ALICE}:19700:0:99999:7:::",
    ]
    if weak:
        passwd += ["bob:x:1001:1001::/home/bob:/bin/bash", "carol:x:1002:1002::/home/carol:/bin/bash",
                   "toor:x:0:0:backdoor:/root:/bin/bash"]
        shadow[3] = f"alice:{MD5_HASH}:19700:0:99999:7:::"
        shadow += [f"bob:{DES_HASH}:19700:0:99999:7:::", "carol::19700:0:99999:7:::", "toor:!:19700::::::"]
    write_file(root, "/etc/passwd", "\n".join(passwd) + "\n")
    write_file(root, "/etc/shadow", "\n".join(shadow) + "\n", 0o640)
    write_file(root, "/etc/group", "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\nsshusers:x:1100:alice\n")


def write_login_defs(root: Path, *, method: str = "YESCRYPT", max_days: int = 99999) -> None:
    write_file(root, "/etc/login.defs", f"""# /etc/login.defs - shadow-utils configuration
MAIL_DIR        /var/mail
PASS_MAX_DAYS   {max_days}
PASS_MIN_DAYS   0
PASS_WARN_AGE   7
UID_MIN                  1000
UID_MAX                 60000
ENCRYPT_METHOD {method}
YESCRYPT_COST_FACTOR 5
""")


# ---------------------------------------------------------------------------------------------------
# PAM


def write_pam_debian(root: Path, *, pwquality: str | None, unix_password_args: str, nullok: bool, faillock: bool) -> None:
    """Debian/Ubuntu: pam-auth-update style common-* files, services @include them."""
    q = f"password\trequisite\t\t\tpam_pwquality.so {pwquality}\n" if pwquality is not None else ""
    write_file(root, "/etc/pam.d/common-password", f"""#
# /etc/pam.d/common-password - password-related modules common to all services
#
# here are the per-package modules (the "Primary" block)
{q}password\t[success=1 default=ignore]\tpam_unix.so {unix_password_args}
# here's the fallback if no module succeeds
password\trequisite\t\t\tpam_deny.so
password\trequired\t\t\tpam_permit.so
""")
    pre = "auth\trequired\t\t\tpam_faillock.so preauth\n" if faillock else ""
    post = "auth\t[default=die]\t\t\tpam_faillock.so authfail\n" if faillock else ""
    write_file(root, "/etc/pam.d/common-auth", f"""# /etc/pam.d/common-auth - authentication settings common to all services
{pre}auth\t[success=1 default=ignore]\tpam_unix.so{' nullok' if nullok else ''}
{post}auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
auth\toptional\t\t\tpam_cap.so
""")
    write_file(root, "/etc/pam.d/common-account", "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\n"
               "account\trequisite\t\t\tpam_deny.so\naccount\trequired\t\t\tpam_permit.so\n"
               + ("account\trequired\t\t\tpam_faillock.so\n" if faillock else ""))
    write_file(root, "/etc/pam.d/passwd", "# The PAM configuration file for the Shadow `passwd' service\n@include common-password\n")
    write_file(root, "/etc/pam.d/login", "auth       optional   pam_faildelay.so  delay=3000000\n@include common-auth\n@include common-account\n")
    write_file(root, "/etc/pam.d/sshd", "# PAM configuration for the Secure Shell service\n@include common-auth\n"
               "account    required     pam_nologin.so\n@include common-account\n")


def write_pam_rhel(root: Path, *, pwquality_args: str, unix_password_args: str, nullok: bool, faillock: bool) -> None:
    """RHEL 8/9: authselect writes /etc/authselect/{system,password}-auth, /etc/pam.d links to them."""
    fl_pre = "auth        required                                     pam_faillock.so preauth silent\n" if faillock else ""
    fl_post = "auth        required                                     pam_faillock.so authfail\n" if faillock else ""
    body = f"""# Generated by authselect
# Do not modify this file manually, use authselect instead.
auth        required                                     pam_env.so
{fl_pre}auth        sufficient                                   pam_unix.so{' nullok' if nullok else ''}
{fl_post}auth        required                                     pam_deny.so

account     required                                     pam_unix.so

password    requisite                                    pam_pwquality.so {pwquality_args}
password    sufficient                                   pam_unix.so {unix_password_args} \\
                                                         shadow use_authtok
password    required                                     pam_deny.so

session     required                                     pam_unix.so
"""
    for name in ("system-auth", "password-auth"):
        write_file(root, f"/etc/authselect/{name}", body)
        symlink(root, f"/etc/pam.d/{name}", f"/etc/authselect/{name}")
    write_file(root, "/etc/pam.d/passwd", "#%PAM-1.0\nauth       include\tsystem-auth\npassword   substack\tsystem-auth\n")
    write_file(root, "/etc/pam.d/sshd", "#%PAM-1.0\nauth       substack     password-auth\nauth       include      postlogin\n"
               "account    include      password-auth\npassword   include      password-auth\n")
    write_file(root, "/etc/pam.d/login", "#%PAM-1.0\nauth       substack     system-auth\nauth       include      postlogin\n")


# ---------------------------------------------------------------------------------------------------
# sshd

FAKE_SSHD = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64 + b"OpenSSH_9.2p1 Debian-2+deb12u3\x00" + b"\x00" * 64


def write_sshd(root: Path, *, weak: bool) -> None:
    write_file(root, "/usr/sbin/sshd", FAKE_SSHD, 0o755)
    write_file(root, "/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0 root@host\n")
    if weak:
        # the drop-in comes first, so its PermitRootLogin yes wins over the main file's no (first value wins)
        write_file(root, "/etc/ssh/sshd_config.d/50-vendor-support.conf",
                   "# remote support by the vendor\nPermitRootLogin yes\nPermitEmptyPasswords yes\n")
        write_file(root, "/etc/ssh/sshd_config", """# weak legacy configuration
Include /etc/ssh/sshd_config.d/*.conf
Port 22
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
Ciphers aes128-cbc,3des-cbc,aes256-ctr
MACs hmac-md5,hmac-sha1,hmac-sha2-256
KexAlgorithms diffie-hellman-group1-sha1,curve25519-sha256
X11Forwarding yes
Subsystem sftp /usr/lib/openssh/sftp-server
""")
    else:
        write_file(root, "/etc/ssh/sshd_config.d/10-hardening.conf", """# hospital hardening baseline
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,diffie-hellman-group16-sha512
AllowGroups sshusers
""")
        write_file(root, "/etc/ssh/sshd_config", """# Debian default with a hardening drop-in
Include sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
Match Address 10.20.0.0/16
    AllowGroups sshusers maintenance
""")


# ---------------------------------------------------------------------------------------------------
# services


def write_services(root: Path, *, weak: bool, layout: str) -> None:
    vendor = "/usr/lib/systemd/system" if layout == "rhel" else "/lib/systemd/system"
    ssh_unit = "sshd.service" if layout == "rhel" else "ssh.service"
    for unit in (ssh_unit, "chronyd.service" if layout == "rhel" else "chrony.service", "cron.service"):
        write_file(root, f"{vendor}/{unit}", f"[Unit]\nDescription={unit}\n[Service]\nExecStart=/usr/sbin/{unit.split('.')[0]}\n")
        symlink(root, f"/etc/systemd/system/multi-user.target.wants/{unit}", f"{vendor}/{unit}")
    write_file(root, f"{vendor}/sockets.target.wants/systemd-journald.socket", "[Socket]\n")
    pkgs = {"openssh-server": "1:9.2p1-2+deb12u3", "chrony": "4.3-2+deb12u1", "libpam-pwquality": "1.4.5-1+b1",
            "telnet": "0.17+2.4-2"}  # the telnet *client* is not a service
    if weak:
        if layout == "rhel":
            write_file(root, f"{vendor}/telnet.socket", "[Socket]\nListenStream=23\nAccept=yes\n")
            symlink(root, "/etc/systemd/system/sockets.target.wants/telnet.socket", f"{vendor}/telnet.socket")
        else:
            write_file(root, f"{vendor}/inetd.service", "[Service]\nExecStart=/usr/sbin/inetd\n")
            symlink(root, "/etc/systemd/system/multi-user.target.wants/inetd.service", f"{vendor}/inetd.service")
            write_file(root, "/etc/inetd.conf", "# /etc/inetd.conf\n#:STANDARD: These are standard services.\n"
                       "telnet\t\tstream\ttcp\tnowait\ttelnetd\t/usr/sbin/tcpd\t/usr/sbin/in.telnetd\n"
                       "#ftp\t\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\t/usr/sbin/in.ftpd\n")
        pkgs.update({"inetutils-telnetd": "2:2.4-2", "openbsd-inetd": "0.20221205-3", "tftpd-hpa": "5.2+20150808-1.4"})
    if layout == "rhel":
        (root / "var/lib/rpm").mkdir(parents=True, exist_ok=True)
        write_file(root, "/var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\x00")
    else:
        write_file(root, "/var/lib/dpkg/status", dpkg_status(pkgs))


# ---------------------------------------------------------------------------------------------------
# plaintext secrets


def write_secret_files(root: Path, *, weak: bool) -> None:
    fstab = "# /etc/fstab: static file system information.\nUUID=3f1c0c9e-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n" \
            "UUID=3f1c0c9e-0000-4000-8000-000000000002 none swap sw 0 0\n"
    if weak:
        fstab += f"//fileserver.hospital.local/scans /mnt/scans cifs username=clerk,password={CIFS_PASSWORD},uid=1000 0 0\n"
        write_file(root, "/root/.my.cnf", f"[client]\nuser = root\npassword = {MYSQL_PASSWORD}\n", 0o600)
    else:
        fstab += "//fileserver.hospital.local/scans /mnt/scans cifs credentials=/root/.smbcredentials,uid=1000 0 0\n"
        write_file(root, "/root/.smbcredentials", "username=clerk\ndomain=HOSPITAL\n", 0o600)
        write_file(root, "/etc/ldap/ldap.conf", "BASE dc=hospital,dc=local\nURI ldaps://ldap.hospital.local\n#bindpw secret\n")
    write_file(root, "/etc/fstab", fstab)


# ---------------------------------------------------------------------------------------------------
# whole trees


def make_good_root(root: Path, layout: str = "debian") -> Path:
    """A hardened host: yescrypt hashes, pwquality minlen 14 / minclass 3 / dictcheck, faillock deny 5,
    PermitRootLogin no with keys only, strong SSH algorithms, no telnet, no plaintext secrets."""
    root.mkdir(parents=True, exist_ok=True)
    write_accounts(root, weak=False)
    write_login_defs(root, method="YESCRYPT")
    if layout == "rhel":
        write_pam_rhel(root, pwquality_args="local_users_only", unix_password_args="yescrypt", nullok=False, faillock=True)
        write_file(root, "/etc/security/pwquality.conf", "# Configuration for systemwide password quality limits\n# minlen = 8\n")
        write_file(root, "/etc/security/pwquality.conf.d/50-hospital.conf", "minlen = 14\nminclass = 3\ndictcheck = 1\nenforce_for_root\n")
    else:
        write_pam_debian(root, pwquality="retry=3", unix_password_args="obscure use_authtok try_first_pass yescrypt",
                         nullok=False, faillock=True)
        write_file(root, "/etc/security/pwquality.conf", "# hospital password rule (Q&A シQ-54)\nminlen = 14\nminclass = 3\n"
                   "dictcheck = 1\nenforce_for_root\n")
    write_file(root, "/etc/security/faillock.conf", "# lock after 5 failures for 15 minutes\ndeny = 5\nunlock_time = 900\n")
    write_sshd(root, weak=False)
    write_services(root, weak=False, layout=layout)
    write_secret_files(root, weak=False)
    return root


def make_weak_root(root: Path, layout: str = "debian") -> Path:
    """A neglected host: MD5/DES/blank hashes and a second uid 0 (toor), DES login.defs, md5 + nullok in
    pam_unix, pwquality minlen 6 with dictcheck off, no lockout, root and empty-password SSH logins with
    CBC/MD5/SHA-1 algorithms, telnet enabled, a cifs password in fstab and a MySQL password in /root."""
    root.mkdir(parents=True, exist_ok=True)
    write_accounts(root, weak=True)
    write_login_defs(root, method="DES")
    if layout == "rhel":
        write_pam_rhel(root, pwquality_args="minlen=6 dictcheck=0", unix_password_args="md5", nullok=True, faillock=False)
        write_file(root, "/etc/security/pwquality.conf", "# Configuration for systemwide password quality limits\n# minlen = 8\n")
    else:
        write_pam_debian(root, pwquality="retry=3", unix_password_args="obscure md5", nullok=True, faillock=False)
        write_file(root, "/etc/security/pwquality.conf", "minlen = 6\ndictcheck = 0\n")
    write_sshd(root, weak=True)
    write_services(root, weak=True, layout=layout)
    write_secret_files(root, weak=True)
    return root
