"""A real Asterisk for demos and integration tests, in a debootstrapped chroot.

Asterisk is not packaged for the host's Debian release, so it lives in a private root made by
``debootstrap --variant=minbase --include=asterisk sid ROOT`` (docs/sandbox.md says how it is
built and run, and what the code relies on). The chroot shares the network namespace: AMI
(127.0.0.1:5038) and the bridge's FastAGI server (127.0.0.1:4573) meet on loopback.
Directories both sides must see (the prompt cache, recordings) are bind-mounted at the same
path inside the root.

A second (third …) instance, for tests of a centre on several servers, runs from the same
built root through an overlay mount: the root is its read-only lower layer, and the instance's
own upper layer holds its /etc/asterisk, /var/lib, /var/log and /run. It listens on its own
ports (each one ``INSTANCE_PORT_STEP`` × its number above the default's) with its own AMI user
and secret, on loopback (docs/sandbox.md, "A second instance").

Everything here is synchronous and needs root. Nothing here prints or logs the AMI secret.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.asterisk.sip_config import render_sip_config
from ivr.config import SipSettings
from ivr_sandbox import classic_agi
from ivr_sandbox.errors import SandboxError

if TYPE_CHECKING:
    from ivr.config import SandboxSettings, Settings

__all__ = ["AmiEndpoint", "AsteriskSandbox", "SandboxError"]

CONF_ENV = "IVR_ASTERISK_CONF"
READY_MARKER = ".ivr-sandbox-ready"
# Modules proper (as opposed to core parts such as "manager" that `module show` also lists).
SECRET_FILE = ".ivr-ami-secret"  # noqa: S105 (a file name)
AMI_USER = "ivr-bridge"
# Sandbox-only AMI user for tests and demos: the bridge's rights plus `dtmf` (keypress events,
# which production keeps off the bridge's stream), `dialplan` (Newexten/VarSet) and `agi`
# (AGIExecStart/End: the benchmarks time each AGI command by Asterisk's clock).
OBSERVER_USER = "ivr-sandbox"
SECRET_CONF = "manager_secret.conf"  # noqa: S105 (a file name)
# The seats' AMI user (manager.conf [ivr-seats]) and the directory pjsip.conf includes the
# generated seats from (ivr/pjsip_seats.conf): kept across config syncs, as a site keeps it.
SEATS_USER = "ivr-seats"
SEATS_SECRET_CONF = "manager_seats_secret.conf"  # noqa: S105 (a file name)
SEATS_DIR = "ivr"
LOCAL_MANAGER_CONF = "manager_local.conf"
MOH_SILENCE = "/var/lib/asterisk/moh/ivr-sandbox-silence.wav"
LOCAL_DIALPLAN = Path(__file__).with_name("extensions_local.conf")
LOCAL_QUEUES = Path(__file__).with_name("queues_local.conf")
LOCAL_PJSIP_CONF = "pjsip_local.conf"
TEST_PHONE = "sandbox-phone"  # a phone endpoint of the sandbox alone (fraud-guard tests)

# Asterisk's own directories inside the root (chowned to the asterisk user: docs/sandbox.md).
ASTERISK_DIRS = (
    "/etc/asterisk",
    "/var/lib/asterisk",
    "/var/log/asterisk",
    "/var/spool/asterisk",
    "/var/cache/asterisk",
    "/var/run/asterisk",
)
# A clean environment for everything run inside the root: the caller's environment may hold
# secrets (IVR_AMI__SECRET, database URLs) that Asterisk has no business seeing.
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
# Parts of Asterisk's core that `module show` lists beside the loadable modules.
CORE_PARTS = frozenset(
    {"acl", "ccss", "cdr", "cel", "dnsmgr", "dsp", "enum", "extconfig", "features"}
    | {"http", "indications", "logger", "manager", "plc", "sounds", "udptl"}
)
# ids tried, highest first, when the chroot's asterisk user collides with a host account
FREE_ID_RANGE = range(880, 499, -1)
# Instances besides the default one: a letter b–j, the n-th (b = 1) on ports n × the step above
# the default's (AMI 5038, SIP 5060, the bridge's FastAGI 4573; RTP n × 2 × the step above).
INSTANCE_NAME = re.compile(r"^[b-j]$")
INSTANCE_PORT_STEP = 100
DEFAULT_AGI_PORT = 4573


def instance_number(instance: str) -> int:
    """0 for the default instance (""), 1 for "b", 2 for "c" …; SandboxError otherwise."""
    if instance == "":
        return 0
    if not INSTANCE_NAME.fullmatch(instance):
        raise SandboxError(f"sandbox instance {instance!r}: one letter b–j (or none: the default)")
    return ord(instance) - ord("a")


@dataclass(frozen=True)
class AmiEndpoint:
    """Where and as whom the bridge logs in to AMI. ``repr`` never shows the secret."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)


def sandbox_sip(sip: SipSettings, sandbox: SandboxSettings | None) -> SipSettings:
    """The site's [sip] settings with the sandbox's edge: loopback, and the simulated carrier
    (SIPp) as the trunk on its own address, so phones on 127.0.0.1 are never taken for it."""
    if sandbox is None:
        from ivr.config import SandboxSettings

        sandbox = SandboxSettings()
    carrier = sandbox.carrier_address
    return sip.model_copy(
        update={
            "bind_address": IPv4Address("127.0.0.1"),
            "media_address": IPv4Address("127.0.0.1"),
            "trunk_sources": [IPv4Network(f"{carrier}/32")],
            "trunk_host": carrier,
            "trunk_port": sandbox.carrier_port,
        }
    )


def _say(message: str) -> None:
    """Progress for a person waiting on a slow step (debootstrap, first start)."""
    print(f"[ivr sandbox] {message}", file=sys.stderr, flush=True)


def _default_conf_dir() -> Path:
    """``$IVR_ASTERISK_CONF``, else the repository's ``asterisk_conf/`` beside the package."""
    env = os.environ.get(CONF_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "asterisk_conf"


def _unescape_mountinfo(field_: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def _mount_points() -> set[str]:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return {_unescape_mountinfo(line.split()[4]) for line in f if line.strip()}


def _read_ids(path: Path) -> dict[str, int]:
    """name → id from a passwd or group file."""
    ids: dict[str, int] = {}
    if not path.is_file():
        return ids
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            ids[parts[0]] = int(parts[2])
    return ids


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class AsteriskSandbox:
    """Provision, start, reload and stop Asterisk in a chroot. Idempotent; fast on reuse."""

    def __init__(
        self,
        root: Path,
        conf_dir: Path,
        shared_dirs: Sequence[Path] = (),
        start_timeout_s: float = 60.0,
        writable_dirs: Sequence[Path] = (),
        sip: SipSettings | None = None,
        instance: str = "",
    ) -> None:
        self.instance = instance
        self.number = instance_number(instance)
        self.base_root = Path(root).resolve()  # mountinfo and /proc/<pid>/root show real paths
        # an instance's own files: its overlay layers, its merged root, its locks and secret
        self.instance_dir = self.base_root.with_name(f"{self.base_root.name}-{instance}")
        self.root = self.instance_dir / "root" if instance else self.base_root
        self.conf_dir = Path(conf_dir).absolute()
        # writable_dirs are shared too, and owned by the chroot's asterisk user (recordings)
        self.writable_dirs = [Path(d).absolute() for d in writable_dirs]
        dirs = [Path(d).absolute() for d in shared_dirs]
        self.shared_dirs = dirs + [d for d in self.writable_dirs if d not in dirs]
        self.start_timeout_s = start_timeout_s
        sip = sip if sip is not None else sandbox_sip(SipSettings(), None)
        self.port_offset = self.number * INSTANCE_PORT_STEP
        self.sip = sip.model_copy(update={"bind_port": sip.bind_port + self.port_offset})
        for d in self.shared_dirs:
            if d == Path("/") or self.root.is_relative_to(d):
                raise SandboxError(f"shared directory {d} contains the sandbox root {self.root}")

    @classmethod
    def from_settings(
        cls, settings: Settings, conf_dir: Path | None = None, instance: str = ""
    ) -> AsteriskSandbox:
        """The sandbox the settings describe (or its second instance ``instance``, "b" …);
        prompts and recordings are shared with it."""
        return cls(
            root=settings.sandbox.root,
            conf_dir=conf_dir if conf_dir is not None else _default_conf_dir(),
            shared_dirs=[settings.speech.cache_dir, settings.sandbox.recordings_dir],
            start_timeout_s=settings.sandbox.start_timeout_s,
            writable_dirs=[settings.sandbox.recordings_dir],
            sip=sandbox_sip(settings.sip, settings.sandbox),
            instance=instance,
        )

    @property
    def ami_user(self) -> str:
        """The bridge's AMI user on this instance (``ivr-bridge``, ``ivr-bridge-b`` …)."""
        return f"{AMI_USER}-{self.instance}" if self.instance else AMI_USER

    @property
    def agi_port(self) -> int:
        """The port this instance's dialplan sends inbound calls to (the bridge's FastAGI)."""
        return DEFAULT_AGI_PORT + self.port_offset

    # ---------------------------------------------------------------- paths inside the root

    def host_path(self, path: str | Path) -> Path:
        """The host path of ``path`` as seen inside the chroot.

        Symlinks are followed relative to the root (``/var/run`` → ``/run`` is absolute), so
        nothing we read, write or mount on escapes into the host's own directories.
        """
        parts = [p for p in Path(path).parts if p != "/"]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, part)
            if candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise SandboxError(f"too many symlinks resolving {path} in {self.root}")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in Path(target).parts if p != "/"] + parts
                continue
            resolved.append(part)
        return self.root.joinpath(*resolved)

    @property
    def log_file(self) -> Path:
        """Asterisk's own log (logger.conf ``messages``): read it when a call went wrong."""
        return self.host_path("/var/log/asterisk/messages")

    @property
    def _marker(self) -> Path:
        return self.root / READY_MARKER

    @property
    def _secret_path(self) -> Path:
        # an instance's secret is its own, outside its merged root (which shows the default's)
        return (self.instance_dir if self.instance else self.root) / SECRET_FILE

    # ---------------------------------------------------------------- commands

    def _run(
        self,
        args: Sequence[str | os.PathLike[str]],
        timeout: float = 120.0,
        what: str = "",
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command (list args, no shell); a failure raises SandboxError with its output."""
        argv = [os.fspath(a) for a in args]
        what = what or " ".join(argv)
        try:
            return subprocess.run(
                argv,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except FileNotFoundError as exc:
            raise SandboxError(f"{what}: {argv[0]} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"{what}: no answer within {timeout:.0f} s") from exc
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or "").strip() or (exc.stdout or "").strip()
            raise SandboxError(f"{what} failed (exit {exc.returncode}): {output[-2000:]}") from exc

    def _chroot(
        self, *args: str, timeout: float = 120.0, what: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the root, with the root's own PATH and locale."""
        what = f"{what or ' '.join(args)} (in {self.root})"
        return self._run(["chroot", self.root, *args], timeout, what, env=CHROOT_ENV)

    def rx(self, command: str, timeout: float = 30.0) -> str:
        """Run one CLI command in the running Asterisk (``asterisk -rx``); its output."""
        return self._chroot(
            "asterisk", "-rx", command, timeout=timeout, what=f"asterisk -rx {command!r}"
        ).stdout

    # ---------------------------------------------------------------- the root

    def _root_is_complete(self) -> bool:
        """A root someone made with the documented debootstrap command, without our marker."""
        status = self.root / "var/lib/dpkg/status"
        if not (self.root / "usr/sbin/asterisk").exists() or not status.is_file():
            return False
        text = status.read_text(encoding="utf-8", errors="replace")
        return (
            re.search(r"^Package: asterisk\nStatus: install ok installed$", text, re.M) is not None
        )

    def _unmount_below(self, path: Path) -> None:
        """Unmount what a failed debootstrap left mounted (/proc, /sys) before deleting."""
        prefix = str(path) + "/"
        for mount_point in sorted(
            (m for m in _mount_points() if m.startswith(prefix)), reverse=True
        ):
            self._run(["umount", mount_point], what=f"unmount {mount_point}")

    def ensure_root(self) -> None:
        """Debootstrap Asterisk into the root unless it is already there (about a minute); an
        instance mounts its overlay on the default's root instead."""
        if self.instance:
            self._ensure_overlay()
            return
        if self._marker.exists():
            return
        if self.root.exists():
            if not self._root_is_complete():
                raise SandboxError(
                    f"{self.root} exists but is not a finished Asterisk root (no {READY_MARKER}, "
                    "asterisk not installed); move it away and run again"
                )
            _say(f"adopting the existing Asterisk root {self.root}")
            self._marker.write_text("debootstrap --variant=minbase --include=asterisk sid\n")
            return
        if shutil.which("debootstrap") is None:
            _say("installing debootstrap (apt-get)")
            self._run(
                ["apt-get", "install", "-y", "debootstrap"],
                timeout=600,
                what="apt-get install debootstrap",
            )
        partial = self.root.with_name(self.root.name + ".partial")
        if partial.exists():
            _say(f"removing the unfinished {partial}")
            self._unmount_below(partial)
            shutil.rmtree(partial)
        partial.parent.mkdir(parents=True, exist_ok=True)
        _say(f"debootstrapping Debian sid + asterisk into {partial} (about a minute, ~500 MB)")
        argv = ["debootstrap", "--variant=minbase", "--include=asterisk", "sid", str(partial)]
        recent: list[str] = []
        started = time.monotonic()
        with subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip()
                recent = [*recent[-29:], line]
                if line.startswith(
                    (
                        "I: Retrieving Release",
                        "I: Installing core",
                        "I: Installing base",
                        "I: Configuring asterisk",
                        "I: Base system installed",
                        "E:",
                        "W:",
                    )
                ):
                    _say(f"  {line}")
        if proc.returncode != 0:
            self._unmount_below(partial)
            raise SandboxError(
                f"debootstrap failed (exit {proc.returncode}); last output:\n" + "\n".join(recent)
            )
        partial.rename(self.root)
        self._marker.write_text("debootstrap --variant=minbase --include=asterisk sid\n")
        _say(f"Asterisk root ready in {time.monotonic() - started:.0f} s")

    def _ensure_overlay(self) -> None:
        """The instance's root: the built root read-only below, its own layer above.

        ``redirect_dir=on``: the configuration sync renames /etc/asterisk, a directory of the
        lower layer, which overlayfs refuses (EXDEV) without it."""
        if not (self.base_root / READY_MARKER).exists():
            raise SandboxError(
                f"the default sandbox root {self.base_root} is not built yet: run `ivr sandbox up`"
            )
        upper, work = self.instance_dir / "upper", self.instance_dir / "work"
        for d in (upper, work, self.root):
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
        if str(self.root) in _mount_points():
            return
        options = f"lowerdir={self.base_root},upperdir={upper},workdir={work},redirect_dir=on"
        self._run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)],
            what=f"mount the overlay of instance {self.instance}",
        )
        _say(f"instance {self.instance}: overlay on {self.base_root} mounted at {self.root}")

    def _unmount_overlay(self) -> None:
        if self.instance and str(self.root) in _mount_points():
            self._run(["umount", str(self.root)], what=f"unmount {self.root}")

    def _for_instance(self, name: str, content: bytes) -> bytes:
        """A configuration file as this instance needs it: its own ports and AMI user."""
        if not self.instance:
            return content
        rules = {
            "manager.conf": [
                (r"(?m)^port = (\d+)", lambda m: f"port = {int(m[1]) + self.port_offset}"),
                (r"(?m)^\[ivr-bridge\]", lambda m: f"[{self.ami_user}]"),
            ],
            "rtp.conf": [
                (
                    r"(?m)^(rtpstart|rtpend) = (\d+)",
                    lambda m: f"{m[1]} = {int(m[2]) + 2 * self.port_offset}",
                )
            ],
            "extensions.conf": [
                (
                    r"(?m)^IVR_AGI_URL=agi://127\.0\.0\.1:(\d+)",
                    lambda m: f"IVR_AGI_URL=agi://127.0.0.1:{int(m[1]) + self.port_offset}",
                )
            ],
        }
        text = content.decode()
        for pattern, replace in rules.get(name, []):
            text, found = re.subn(pattern, replace, text)
            if not found:
                raise SandboxError(
                    f"{name}: no line matches {pattern} for instance {self.instance}"
                )
        return text.encode()

    # ---------------------------------------------------------------- configuration

    def _asterisk_ids(self) -> tuple[int, int]:
        users = _read_ids(self.root / "etc/passwd")
        groups = _read_ids(self.root / "etc/group")
        if "asterisk" not in users or "asterisk" not in groups:
            raise SandboxError(f"no asterisk user/group in {self.root}/etc/passwd, group")
        return users["asterisk"], groups["asterisk"]

    def _separate_ids(self) -> bool:
        """Give the chroot's asterisk user ids no host account has.

        debootstrap allocates system ids on its own, so inside the root ``asterisk`` can be,
        say, uid 101 — the host's ``postgres``. Asterisk would then run as the host's
        database owner (signals, ptrace, files on shared mounts). Returns True if renumbered.
        """
        uid, gid = self._asterisk_ids()
        host_users = _read_ids(Path("/etc/passwd"))
        host_groups = _read_ids(Path("/etc/group"))
        uid_taken = any(v == uid and k != "asterisk" for k, v in host_users.items())
        gid_taken = any(v == gid and k != "asterisk" for k, v in host_groups.items())
        if not (uid_taken or gid_taken):
            return False
        used = (
            set(host_users.values())
            | set(host_groups.values())
            | set(_read_ids(self.root / "etc/passwd").values())
            | set(_read_ids(self.root / "etc/group").values())
        )
        new = next((i for i in FREE_ID_RANGE if i not in used), None)
        if new is None:
            raise SandboxError("no free id for the chroot's asterisk user")
        _say(f"asterisk user in the root shares id {uid}/{gid} with the host; renumbering to {new}")
        self._chroot("groupmod", "-g", str(new), "asterisk", what="groupmod asterisk")
        self._chroot("usermod", "-u", str(new), "-g", str(new), "asterisk", what="usermod asterisk")
        return True

    def _secret(self) -> str:
        """The sandbox's AMI secret: generated once, kept root-only beside the root."""
        path = self._secret_path
        if not self.root.is_dir():
            raise SandboxError(f"no sandbox root at {self.root} yet: run up() first")
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
        os.chmod(path, 0o600)
        value = path.read_text().strip()
        if not value:
            raise SandboxError(f"{path} is empty; delete it to generate a new secret")
        return value

    def _wanted_config(self) -> dict[str, tuple[bytes, int]]:
        """File name → (content, mode) of the /etc/asterisk we want."""
        if not (self.conf_dir / "extensions.conf").is_file():
            raise SandboxError(
                f"{self.conf_dir} is not an Asterisk configuration (no extensions.conf); "
                f"set {CONF_ENV} or pass conf_dir"
            )
        files: dict[str, tuple[bytes, int]] = {}
        for path in sorted(self.conf_dir.iterdir()):
            if path.is_file() and path.suffix == ".conf" and not path.name.startswith("."):
                files[path.name] = (self._for_instance(path.name, path.read_bytes()), 0o640)
        files["extensions_local.conf"] = (LOCAL_DIALPLAN.read_bytes(), 0o640)
        files["queues_local.conf"] = (LOCAL_QUEUES.read_bytes(), 0o640)
        for name, text in render_sip_config(self.sip).files.items():
            files[name] = (text.encode(), 0o640)
        files[LOCAL_PJSIP_CONF] = (self._test_phone_conf().encode(), 0o600)
        secret = self._secret()
        secret_conf = f"; generated by ivr_sandbox for this sandbox only\nsecret = {secret}\n"
        files[SECRET_CONF] = (secret_conf.encode(), 0o600)
        seats_secret = self._seats_secret()
        seats_conf = f"; generated by ivr_sandbox for this sandbox only\nsecret = {seats_secret}\n"
        files[SEATS_SECRET_CONF] = (seats_conf.encode(), 0o600)
        observer = (
            "; generated by ivr_sandbox, SANDBOX ONLY: the AMI user tests observe calls with\n"
            f"[{OBSERVER_USER}]\n"
            "deny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\n"
            "read = system,call,agent,user,reporting,security,cdr,dtmf,dialplan,agi\n"
            "write = call,agent,originate,reporting,user\n"
            f"secret = {secret}\n"
        )
        files[LOCAL_MANAGER_CONF] = (observer.encode(), 0o600)
        return files

    def _seats_secret(self) -> str:
        """The seats' AMI secret, derived from the sandbox's (a different login, one file)."""
        digest = hmac.new(self._secret().encode(), SEATS_USER.encode(), hashlib.sha256)
        return digest.hexdigest()

    @property
    def seats_conf_dir(self) -> Path:
        """Where ``ivr seat`` writes pjsip_seats.conf for this sandbox (its /etc/asterisk/ivr)."""
        return self.host_path(f"/etc/asterisk/{SEATS_DIR}")

    def _ensure_seats_dir(self) -> None:
        """/etc/asterisk/ivr: root writes, Asterisk's group reads; an empty include at first."""
        directory = self.seats_conf_dir
        if not directory.is_relative_to(self.root):
            raise SandboxError(f"{directory} resolves outside the root")
        _uid, gid = self._asterisk_ids()
        directory.mkdir(mode=0o750, exist_ok=True)
        os.chown(directory, 0, gid)
        os.chmod(directory, 0o2750)  # noqa: S103 (group: asterisk, which only reads)
        seats = directory / "pjsip_seats.conf"
        if not seats.exists():
            seats.write_text("; no seats yet\n")
        os.chown(seats, 0, gid)
        os.chmod(seats, 0o640)

    @property
    def test_phone_password(self) -> str:
        """The sandbox test phone's digest password (derived from the sandbox secret)."""
        digest = hmac.new(self._secret().encode(), TEST_PHONE.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _test_phone_conf(self) -> str:
        """A phone endpoint like the agents' (context agent-phones), for the fraud tests."""
        return (
            "; generated by ivr_sandbox, SANDBOX ONLY: a phone the fraud-guard tests log in as\n"
            f"[{TEST_PHONE}](agent-endpoint)\n"
            f"auth = {TEST_PHONE}\naors = {TEST_PHONE}\n"
            f"[{TEST_PHONE}](agent-auth)\n"
            f"username = {TEST_PHONE}\npassword = {self.test_phone_password}\n"
            f"[{TEST_PHONE}](agent-aor)\n"
        )

    def _ensure_moh(self) -> None:
        """One second of silence as hold music, so res_musiconhold has a class to play.

        A site installs real music; with an empty directory Asterisk disables hold music
        altogether (and says so in the log), which a sandbox should not differ in.
        """
        moh_dir = self.host_path(os.path.dirname(MOH_SILENCE))
        if not moh_dir.is_relative_to(self.root) or not moh_dir.is_dir():
            return
        if any(p.is_file() for p in moh_dir.iterdir()):
            return
        with wave.open(str(moh_dir / os.path.basename(MOH_SILENCE)), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 8000)

    def _sync_config(self) -> bool:
        """Make <root>/etc/asterisk exactly the wanted files; True if anything changed."""
        wanted = self._wanted_config()
        etc = self.host_path("/etc/asterisk")
        if not etc.is_relative_to(self.root):
            raise SandboxError(f"/etc/asterisk in the root resolves outside it: {etc}")
        if etc.is_dir() and not etc.is_symlink():
            current = {p.name for p in etc.iterdir()} - {SEATS_DIR}
            if current == set(wanted) and all(
                (etc / name).is_file() and (etc / name).read_bytes() == content
                for name, (content, _mode) in wanted.items()
            ):
                return False
        staging = etc.with_name("asterisk.ivr-new")
        old = etc.with_name("asterisk.ivr-old")
        for leftover in (staging, old):
            if leftover.exists():
                shutil.rmtree(leftover)
        staging.mkdir(mode=0o750)
        for name, (content, mode) in wanted.items():
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(content)
        if (etc / SEATS_DIR).is_dir():  # the seats a site (or a test) added stay
            (etc / SEATS_DIR).rename(staging / SEATS_DIR)
        if etc.exists():
            etc.rename(old)
        staging.rename(etc)
        if old.exists():
            shutil.rmtree(old)
        return True

    def _chown_asterisk_dirs(self) -> None:
        # /var/run is a symlink to /run in the root: create it from inside, never from the host.
        self._chroot(
            "install",
            "-d",
            "-o",
            "asterisk",
            "-g",
            "asterisk",
            "-m",
            "0755",
            "/var/run/asterisk",
            what="create /var/run/asterisk",
        )
        present = [d for d in ASTERISK_DIRS if self.host_path(d).exists()]
        self._chroot("chown", "-R", "asterisk:asterisk", *present, what="chown asterisk dirs")

    def install_config(self) -> None:
        """Replace the root's /etc/asterisk with ours + the sandbox dialplan + the secret."""
        self._install_config()

    def _install_config(self) -> bool:
        renumbered = self._separate_ids()
        changed = self._sync_config()
        self._ensure_moh()
        self._chown_asterisk_dirs()
        self._ensure_seats_dir()  # after the chown -R: the bridge (root here) writes it
        return changed or renumbered

    # ---------------------------------------------------------------- AMI

    def _ami_host_port(self) -> tuple[str, int]:
        """bindaddr/port from the shipped manager.conf [general] (defaults as Asterisk's)."""
        host, port, section = "127.0.0.1", 5038, ""
        path = self.conf_dir / "manager.conf"
        if path.is_file():
            for raw in path.read_text(encoding="utf-8").splitlines():
                line = raw.split(";", 1)[0].strip()
                if line.startswith("["):
                    section = line.strip("[]").split("]")[0]
                elif section == "general" and "=" in line:
                    key, value = (s.strip() for s in line.split("=", 1))
                    if key == "port":
                        port = int(value)
                    elif key == "bindaddr" and value not in ("0.0.0.0", "::"):  # noqa: S104 (we connect)
                        host = value
        return host, port + self.port_offset

    @property
    def ami(self) -> AmiEndpoint:
        """The bridge's AMI login for this sandbox (the secret is created on first use)."""
        host, port = self._ami_host_port()
        return AmiEndpoint(host=host, port=port, username=self.ami_user, secret=self._secret())

    @property
    def observer(self) -> AmiEndpoint:
        """Sandbox-only AMI login that also receives DTMF and dialplan events (for tests)."""
        return AmiEndpoint(
            host=self.ami.host, port=self.ami.port, username=OBSERVER_USER, secret=self._secret()
        )

    @property
    def seats_ami(self) -> AmiEndpoint:
        """The seats' AMI login (write class ``system`` only: reload res_pjsip)."""
        return AmiEndpoint(
            host=self.ami.host, port=self.ami.port, username=SEATS_USER, secret=self._seats_secret()
        )

    def ami_login_ok(self, timeout: float = 3.0, endpoint: AmiEndpoint | None = None) -> bool:
        """True if AMI answers a Login (ours by default) with Success, then logs off."""
        ami = endpoint or self.ami
        try:
            with socket.create_connection((ami.host, ami.port), timeout=timeout) as sock:
                reader = sock.makefile("rb")
                banner = reader.readline()
                if not banner.startswith(b"Asterisk Call Manager"):
                    return False
                sock.sendall(
                    f"Action: Login\r\nActionID: ivr-sandbox-probe\r\nUsername: {ami.username}\r\n"
                    f"Secret: {ami.secret}\r\nEvents: off\r\n\r\n".encode()
                )
                response = b""
                while True:
                    line = reader.readline()
                    if not line or line in (b"\r\n", b"\n"):
                        break
                    response += line
                ok = b"Response: Success" in response
                if ok:
                    sock.sendall(b"Action: Logoff\r\n\r\n")
                return ok
        except OSError:
            return False

    # ---------------------------------------------------------------- process

    def daemon_pid(self) -> int | None:
        """The running Asterisk daemon's pid (tests watch its system calls)."""
        return self._daemon_pid()

    def _daemon_pid(self) -> int | None:
        """The running Asterisk daemon whose root is ours (pidfile first, then /proc)."""
        pidfile = self.host_path("/var/run/asterisk/asterisk.pid")
        candidates: list[int] = []
        try:
            text = pidfile.read_text().strip()
            if text.isdigit():
                candidates.append(int(text))
        except OSError:
            pass
        candidates += [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        root = os.path.realpath(self.root)
        for pid in candidates:
            try:
                if os.readlink(f"/proc/{pid}/root") != root:
                    continue
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            name = os.path.basename(argv[0]) if argv else b""
            if name == b"asterisk" and not any(
                a.startswith(b"-r") or a.startswith(b"-R") for a in argv[1:]
            ):
                return pid
        return None

    def _iter_mounts(self) -> Iterator[tuple[Path, Path]]:
        for d in self.shared_dirs:
            yield d, self.host_path(d)

    def _mount_shared(self) -> None:
        """Create each shared dir on both sides and bind-mount it into the root (once)."""
        uid, gid = self._asterisk_ids()
        mounted = _mount_points()
        for source in self.shared_dirs:
            if not source.exists():
                source.mkdir(mode=0o755, parents=True)
            if source in self.writable_dirs:
                os.chown(source, uid, gid)
                # recordings are customers' voices: the asterisk group may read, nobody else
                os.chmod(source, 0o750)  # noqa: S103
            else:
                # the prompt cache: its personal/ prompts (dispatch calls) are readable by this
                # directory's group only, so it is the chroot's asterisk group
                os.chown(source, -1, gid)
            self._chroot("mkdir", "-p", str(source), what=f"create {source} in the root")
            target = self.host_path(source)
            if not target.is_relative_to(self.root):
                raise SandboxError(f"{source} in the root resolves outside it: {target}")
            if str(target) in mounted:
                continue
            self._run(["mount", "--bind", str(source), str(target)], what=f"bind-mount {source}")

    def _unmount_shared(self) -> None:
        mounted = _mount_points()
        for _source, target in reversed(list(self._iter_mounts())):
            if str(target) in mounted:
                self._run(["umount", str(target)], what=f"unmount {target}")

    def _start(self) -> None:
        _say("starting Asterisk")
        err = self.root / ".ivr-start.err"
        with open(err, "w+") as f:
            proc = subprocess.run(
                ["chroot", str(self.root), "asterisk", "-U", "asterisk", "-G", "asterisk"],
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.STDOUT,
                env=CHROOT_ENV,
                timeout=30,
                check=False,
            )
            f.seek(0)
            output = f.read().strip()
        if proc.returncode != 0:
            raise SandboxError(f"asterisk would not start (exit {proc.returncode}): {output}")

    def _wait_ready(self, deadline: float) -> None:
        """Until the daemon is fully booted and AMI accepts our login, or the deadline."""
        ctl = self.host_path("/var/run/asterisk/asterisk.ctl")
        booted = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._daemon_pid() is None:
                time.sleep(0.2)
                if self._daemon_pid() is None:
                    raise SandboxError(
                        f"Asterisk exited while starting; end of {self.log_file}:\n"
                        + _tail(self.log_file)
                    )
            if not booted and ctl.exists():
                try:
                    self.rx("core waitfullybooted", timeout=max(remaining, 1.0))
                    booted = True
                except SandboxError:
                    pass
            if booted and self.ami_login_ok(timeout=min(3.0, max(remaining, 0.5))):
                return
            time.sleep(0.1)
        raise SandboxError(
            f"Asterisk not ready within {self.start_timeout_s:.0f} s (fully booted: {booted}, "
            f"AMI login as {self.ami_user}: failed); end of {self.log_file}:\n"
            + _tail(self.log_file)
        )

    def wanted_modules(self) -> list[str]:
        """The modules our modules.conf loads."""
        path = self.conf_dir / "modules.conf"
        found = re.findall(
            r"^\s*load\s*=>\s*(\S+?)(?:\.so)?\s*(?:;.*)?$", path.read_text(encoding="utf-8"), re.M
        )
        return found

    def missing_modules(self) -> list[str]:
        """Modules from modules.conf that the running Asterisk has not loaded."""
        return [m for m in self.wanted_modules() if m not in self.running_modules()]

    def running_modules(self) -> set[str]:
        """Modules the running Asterisk lists as Running (a declined module says Not Running)."""
        shown = self.rx("module show")
        return {
            m.group(1)
            for m in re.finditer(r"^(\S+)\.so\s.*?\s(Not Running|Running)\s", shown, re.M)
            if m.group(2) == "Running"
        }

    def _apply_config(self) -> None:
        """New configuration into a running Asterisk: reload, then load modules added since."""
        _say("configuration changed: core reload")
        self.rx("core reload")
        # `module load` resolves no dependencies at runtime: retry until nothing more loads
        missing = self.missing_modules()
        while missing:
            for module in missing:
                self.rx(f"module load {module}.so")
            still = self.missing_modules()
            if len(still) == len(missing):
                _say(f"modules that will not load: {', '.join(still)}; see {self.log_file}")
                break
            missing = still

    def _unload_unwanted(self) -> None:
        """Unload modules an earlier configuration loaded and ours does not list.

        The sandbox is shared: another checkout's run may have loaded modules (say app_record)
        that ``core reload`` keeps. ``up()`` installs *this* checkout's configuration, modules
        included; we hold the sandbox, so no call is using them. Dependants go first: retry.
        """
        for _ in range(5):
            extra = self.running_modules() - set(self.wanted_modules()) - CORE_PARTS
            if not extra:
                return
            for module in sorted(extra):
                _say(f"unloading {module} (not in this modules.conf)")
                with contextlib.suppress(SandboxError):
                    self.rx(f"module unload {module}.so")
        _say(f"modules that will not unload: {', '.join(sorted(extra))}; see {self.log_file}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One up()/down() at a time per root (a demo and a test run may overlap)."""
        path = self.root.with_name(self.root.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def exclusive(self, timeout_s: float = 1800.0) -> Iterator[None]:
        """Hold the sandbox for one run that places calls (the demo, a test session).

        Queue members and the bridge's AGI port are shared by everything on this Asterisk:
        two runs at once would answer each other's calls. A second run waits its turn.
        """
        path = self.root.with_name(self.root.name + ".calls.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        with open(path, "a") as f:
            told = False
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SandboxError(f"sandbox busy for {timeout_s:.0f} s ({path})") from None
                    if not told:
                        _say("another run is placing calls on the sandbox: waiting for it")
                        told = True
                    time.sleep(1)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def up(self) -> AmiEndpoint:
        """Provision, start (or reload) and wait until AMI takes our login; the login.

        Changes to asterisk.conf need ``down()`` first; everything else is applied to a
        running Asterisk by ``core reload`` (plus ``module load`` for new modules).
        """
        with self._locked():
            return self._up()

    def _up(self) -> AmiEndpoint:
        started = time.monotonic()
        self.ensure_root()
        changed = self._install_config()
        # AGI(/path/script) runs inside the root: python3 there, and our script
        classic_agi.ensure_python(self.root, self._chroot, _say)
        classic_agi.install_script(self.root)
        self._mount_shared()
        deadline = time.monotonic() + self.start_timeout_s  # the start, not debootstrap
        pid = self._daemon_pid()
        if pid is None:
            self._start()
        elif changed:
            self._apply_config()
        self._wait_ready(deadline)
        if pid is not None:
            self._unload_unwanted()
        if pid is None:
            _say(f"Asterisk up in {time.monotonic() - started:.1f} s; log: {self.log_file}")
        return self.ami

    def restart(self, down_for_s: float = 0.0, crash: bool = False) -> None:
        """Stop Asterisk with calls up and start it again, as a crash or an operator would.

        Only while holding :meth:`exclusive` (a fault test): every call on it is cut. ``crash``
        kills it with SIGKILL instead of ``core stop now``. Asterisk comes back with this
        checkout's configuration; dialplan globals set at runtime and queue members (gone with
        the process, ``persistentmembers = no``) are put back as they were, so the rest of a
        test session finds the sandbox as it left it.
        """
        with self._locked():
            globals_ = self._runtime_globals()
            members = self._runtime_members()
            pid = self._daemon_pid()
            if pid is not None:
                if crash:
                    self._signal(pid, signal.SIGKILL)
                else:
                    with contextlib.suppress(SandboxError):
                        self.rx("core stop now", timeout=10)
                if not self._wait_exit(pid, 15.0):
                    self._signal(pid, signal.SIGKILL)
                    self._wait_exit(pid, 5.0)
            time.sleep(down_for_s)
            self._up()
            for name, value in globals_.items():
                self.rx(f"dialplan set global {name} {value}")
            for queue, interface, name, state_interface, paused in members:
                args = f"queue add member {interface} to {queue} penalty 0 as {name}"
                if state_interface and state_interface != interface:
                    args += f" state_interface {state_interface}"
                self.rx(args)
                if paused:
                    self.rx(f"queue pause member {interface} queue {queue}")

    def remove_dynamic_members(self) -> list[tuple[str, str]]:
        """Take every dynamic queue member out (``queue show`` says which are dynamic): a test
        session starts with none, so the simulated agents of an aborted earlier run cannot
        answer its calls. Returns the (queue, interface) pairs removed."""
        removed = []
        for queue, interface, _name, _state, _paused in self._runtime_members():
            self.rx(f"queue remove member {interface} from {queue}")
            removed.append((queue, interface))
        return removed

    def _runtime_globals(self) -> dict[str, str]:
        """Dialplan globals as they are now (set by tests and agents' logins through AMI)."""
        shown = self.rx("dialplan show globals")
        found = re.findall(r"^\s+([A-Za-z0-9_]+)=(\S+)\s*$", shown, re.M)
        return dict(found)

    def _runtime_members(self) -> list[tuple[str, str, str, str, bool]]:
        """(queue, interface, name, state interface, paused) of every dynamic member."""
        members = []
        queue = ""
        for line in self.rx("queue show").splitlines():
            head = re.match(r"^(\S+) has \d+ calls", line)
            if head:
                queue = head.group(1)
                continue
            m = re.match(r"^\s+(.+?) \((\S+?)(?: from (\S+?))?\) .*\(dynamic\)(.*)$", line)
            if m and queue:
                name, interface, state = m.group(1), m.group(2), m.group(3) or ""
                members.append((queue, interface, name, state, "(paused" in m.group(4)))
        return members

    def down(self) -> None:
        """Stop Asterisk (``core stop now``, then signals) and unmount the shared dirs."""
        with self._locked():
            self._down()

    def _down(self) -> None:
        pid = self._daemon_pid()
        if pid is not None:
            with contextlib.suppress(SandboxError):  # the CLI connection drops as it exits
                self.rx("core stop now", timeout=10)
            if not self._wait_exit(pid, 15.0):
                _say(f"Asterisk {pid} ignored core stop now; SIGTERM")
                self._signal(pid, signal.SIGTERM)
                if not self._wait_exit(pid, 5.0):
                    self._signal(pid, signal.SIGKILL)
                    self._wait_exit(pid, 5.0)
        self._unmount_shared()
        self._unmount_overlay()  # an instance's own layer stays for its next start

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    @staticmethod
    def _wait_exit(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    def status(self) -> dict[str, Any]:
        """What is there and what runs; safe to print (no secret)."""
        pid = self._daemon_pid()
        mounted = _mount_points()
        version = None
        if (self.root / "usr/sbin/asterisk").exists():
            try:
                version = self._chroot("asterisk", "-V", timeout=10).stdout.strip()
            except SandboxError:
                version = None
        host, port = self._ami_host_port()
        return {
            "root": str(self.root),
            "root_present": self._marker.exists() or self._root_is_complete(),
            "root_ready_marker": self._marker.exists(),
            "running": pid is not None,
            "pid": pid,
            "version": version,
            "instance": self.instance or "(default)",
            "ami": {"host": host, "port": port, "username": self.ami_user},
            "ami_reachable": pid is not None and self.ami_login_ok(),
            "mounts": [
                {"source": str(s), "target": str(t), "mounted": str(t) in mounted}
                for s, t in self._iter_mounts()
            ],
            "modules_missing": self._missing_or_none() if pid is not None else None,
            "conf_dir": str(self.conf_dir),
            # Asterisk's own log (logger.conf "messages"): notices, warnings, errors, verbose 3
            "log": str(self.log_file),
        }

    def _missing_or_none(self) -> list[str] | None:
        try:
            return self.missing_modules()
        except SandboxError:
            return None
