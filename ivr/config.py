"""Typed settings: a TOML file, then ``IVR_<SECTION>__<KEY>`` environment overrides.

Secrets (the AMI secret, database passwords) belong in the environment or a file that is not
committed; ``repr`` of a secret never shows its value.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ivr.domain.inspection import (
    DEFAULT_ITEMS,
    BadStandard,
    InspectionItem,
    QualityStandard,
)
from ivr.domain.servers import DEFAULT_SERVER_NAME, SERVER_NAME_PATTERN
from ivr.domain.wallboard import (
    HEADLINES,
    BadThreshold,
    QueueAlarmLimit,
    Threshold,
    WallboardRules,
    check_threshold,
)

DEFAULT_STATE_DIR = Path("/var/lib/ivr95598")
DEFAULT_CACHE_DIR = Path("/var/cache/ivr95598")


class _Section(BaseModel):
    """A settings table: a misspelt key is an error, not a silently ignored line."""

    model_config = ConfigDict(extra="forbid")


class AgiSettings(_Section):
    """FastAGI server: where ``AGI(agi://…)`` connects, and how hostile peers are bounded."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535, description="0 picks a free port (tests)")
    env_timeout_s: float = Field(5.0, gt=0, description="time a peer has to send its environment")
    env_max_bytes: int = Field(16_384, ge=1024, description="cap on the whole environment block")
    line_max_bytes: int = Field(4096, ge=256, description="cap on one line, either direction")
    command_timeout_s: float = Field(120.0, gt=0, description="longest wait for one AGI reply")
    max_sessions: int = Field(500, ge=1, description="concurrent calls; more are refused")
    max_handshakes: int = Field(
        256, ge=1, description="connections still sending their environment; the oldest is cut"
    )
    allowed_peers: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")],
        min_length=1,
        description="the Asterisk servers (addresses or networks) whose AGI requests are served;"
        " a connection from anywhere else is closed before a byte is read",
    )

    def peer_allowed(self, address: str | None) -> bool:
        """Whether a connection from ``address`` (as the socket reports it) may speak AGI."""
        if not address:
            return False
        try:
            ip = ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 on a v6 socket
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.allowed_peers)


class AsteriskSettings(_Section):
    """Which Asterisk server this bridge serves, in a centre of several (docs/multi-server.md)."""

    server_name: str = Field(
        DEFAULT_SERVER_NAME,
        pattern=SERVER_NAME_PATTERN,
        description="this bridge's Asterisk, stored on every call, visit, ring, recording and "
        "outbound attempt; bridges of one Asterisk share it (a-z 0-9 -, at most 32)",
    )
    max_outbound: int = Field(
        0,
        ge=0,
        le=10_000,
        description="live outbound calls (callbacks + dispatch) through this server's trunk, "
        "all its bridges together; 0: only the centre's caps",
    )
    heartbeat_s: float = Field(5.0, ge=0.5, le=60, description="a bridge says it lives this often")
    lost_after_s: float = Field(
        30.0,
        ge=5,
        le=3600,
        description="no bridge of a server alive (AMI up) for this long: its open calls are "
        "closed as lost by the other servers' bridges",
    )

    @model_validator(mode="after")
    def _lost_after_beats(self) -> AsteriskSettings:
        if self.lost_after_s < 3 * self.heartbeat_s:
            raise ValueError("lost_after_s must be at least 3 × heartbeat_s")
        return self


class AmiSettings(_Section):
    """The Asterisk Manager link (call tracking, agents, originates) and how it is watched."""

    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ivr-bridge"
    ping_interval_s: float = Field(
        10.0, ge=0.5, le=60, description="a Ping is sent this often and its answer awaited"
    )
    ping_timeout_s: float = Field(
        10.0,
        ge=0.5,
        le=60,
        description="no answer to a Ping within this: the link is dropped and reconnected "
        "(a silent link is noticed within ping_interval_s + ping_timeout_s)",
    )
    reconnect_max_s: float = Field(
        30.0, ge=1, le=600, description="longest wait between failed connects or logins"
    )
    secret: SecretStr = SecretStr("")
    secret_file: Path | None = Field(
        None, description="a file holding the secret (one line), used when `secret` is empty"
    )

    def secret_value(self) -> str:
        """The secret from ``IVR_AMI__SECRET`` (or the settings file), else from
        ``secret_file``; a named file that cannot be read is an error, not an empty secret."""
        if self.secret.get_secret_value():
            return self.secret.get_secret_value()
        if self.secret_file is None:
            return ""
        try:
            value = self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"ami.secret_file {self.secret_file}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"ami.secret_file {self.secret_file} is empty")
        return value


class DatabaseSettings(_Section):
    url: str = f"sqlite+aiosqlite:///{DEFAULT_STATE_DIR / 'ivr.db'}"
    echo: bool = False
    spool_file: Path | None = Field(
        None,
        description="call records the database could not take yet, kept across restarts; "
        "default: <database file>.spool.jsonl for SQLite, none for other databases",
    )
    journal_max_calls: int = Field(
        10_000, ge=10, description="unwritten calls held in memory; more go to the spool file"
    )


class SpeechSettings(_Section):
    """Prompts (pyttsx3) and spoken answers (vosk)."""

    voice: str = "sit/cmn-latn-pinyin"
    rate: int = Field(165, ge=80, le=400, description="espeak words per minute")
    cache_dir: Path = DEFAULT_CACHE_DIR / "prompts"
    recognition: bool = Field(True, description="listen for spoken answers when a model is present")
    model_dir: Path = Field(
        DEFAULT_STATE_DIR / "models" / "vosk-model-small-cn-0.22",
        description="vosk model (a small one: grammars need its dynamic graph)",
    )
    grammar_dir: Path | None = Field(None, description="grammars; the repository's grammars/")
    recordings_dir: Path = Field(
        DEFAULT_STATE_DIR / "recordings", description="RECORD FILE target, same path for Asterisk"
    )
    listen_max_s: float = Field(6.0, ge=1, le=30, description="longest spoken answer")
    end_silence_s: int = Field(2, ge=1, le=10, description="silence that ends an answer")
    min_confidence: float = Field(0.6, ge=0, le=1, description="lowest word confidence acted on")
    workers: int = Field(2, ge=1, le=64, description="recognitions at once (one per core)")
    recognition_timeout_s: float = Field(10.0, gt=0, description="then the caller uses keys")
    keep_recordings: bool = Field(False, description="keep callers' answers (personal data)")


class MenuSettings(_Section):
    file: Path | None = Field(None, description="menu tree TOML; the packaged 95598 menu if unset")


class SandboxSettings(_Section):
    root: Path = DEFAULT_CACHE_DIR / "asterisk-root"
    recordings_dir: Path = DEFAULT_STATE_DIR / "recordings"
    start_timeout_s: float = 60.0
    carrier_address: IPv4Address = Field(
        IPv4Address("127.0.0.2"),
        description="loopback address the simulated carrier (SIPp) sends from and listens on; "
        "the sandbox's trunk is this address, whatever [sip] names",
    )
    carrier_port: int = Field(5060, ge=1, le=65535, description="the simulated carrier's port")
    simulated_agents: str | None = Field(
        None,
        pattern=r"^[a-z0-9-]{1,40}$",
        description="the dialplan context of the sandbox's simulated agents, accepted as queue "
        "members (Local/<digits>@<context>/n) besides real seats; unset on a site",
    )

    @field_validator("carrier_address")
    @classmethod
    def _loopback(cls, value: IPv4Address) -> IPv4Address:
        if not value.is_loopback or value == IPv4Address("127.0.0.1"):
            raise ValueError("the simulated carrier lives on loopback, apart from 127.0.0.1")
        return value


Codec = Literal["alaw", "ulaw", "g722", "gsm"]


class SipSettings(_Section):
    """The SIP edge: Asterisk's transport and the carrier trunk (see docs/sip.md).

    ``ivr asterisk render-config DIR`` turns this into ``pjsip_trunk.conf`` and
    ``extensions_trunk.conf``. Addresses are IP addresses, never host names: a name would be
    resolved by Asterisk (on the call path, where no resolver may answer).
    """

    bind_address: IPv4Address = Field(
        IPv4Address("127.0.0.1"), description="address the UDP transport listens on"
    )
    bind_port: int = Field(5060, ge=1, le=65535)
    media_address: IPv4Address | None = Field(
        None, description="address put in SDP for RTP; default: bind_address (never looked up)"
    )
    trunk_sources: list[IPv4Network] = Field(
        default_factory=list,
        max_length=32,
        description="carrier addresses or CIDRs whose INVITEs are the trunk; empty: no trunk",
    )
    trunk_host: IPv4Address | None = Field(
        None, description="the carrier's SBC our outbound INVITEs go to; default: none"
    )
    trunk_port: int = Field(5060, ge=1, le=65535)
    codecs: list[Codec] = Field(
        default_factory=lambda: ["alaw", "ulaw"], min_length=1, description="in preference order"
    )
    dids: list[str] = Field(
        default_factory=lambda: ["95598"],
        min_length=1,
        max_length=100,
        description="numbers the carrier delivers that land on the 95598 entry",
    )
    dtmf_mode: Literal["rfc4733", "info"] = Field(
        "rfc4733", description="how the carrier sends keys: RTP telephone-events or SIP INFO"
    )

    @model_validator(mode="after")
    def _media(self) -> SipSettings:
        if (self.media_address or self.bind_address).is_unspecified:
            raise ValueError("sip.media_address must name this host's address for RTP")
        return self

    @field_validator("dids")
    @classmethod
    def _dids(cls, value: list[str]) -> list[str]:
        for did in value:
            if not (3 <= len(did) <= 20 and did.isascii() and did.isdigit()):
                raise ValueError(f"a DID is 3 to 20 digits, not {did!r}")
        if len(set(value)) != len(value):
            raise ValueError("a DID is listed twice")
        return value

    @field_validator("codecs")
    @classmethod
    def _codecs(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a codec is listed twice")
        return value


class CallbackSettings(_Section):
    """Callbacks (回访): the dialer, its limits, calling hours and retries."""

    dialer: bool = Field(False, description="run the dialer in this bridge (any number may)")
    trunk_context: str = Field(
        "outbound-trunk",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="dialplan context the validated number is dialled through (Local/<n>@ctx)",
    )
    originate_context: str = Field("callback-out", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    agi_url: str = Field(
        "",
        pattern=r"^(agi://[A-Za-z0-9.:-]{1,100})?$",
        description="FastAGI server for the answered leg; empty: the dialplan's IVR_AGI_URL",
    )
    caller_id: str = Field("95598", pattern=r"^[0-9]{3,16}$")
    max_concurrent: int = Field(4, ge=1, le=500, description="live callback calls, all bridges")
    rate_per_s: float = Field(2.0, gt=0, le=100, description="originates per second, all bridges")
    ring_timeout_s: float = Field(30.0, ge=5, le=120)
    max_call_s: float = Field(600.0, ge=30)
    poll_interval_s: float = Field(2.0, gt=0, le=60)
    claim_lease_s: float = Field(30.0, ge=5, description="claimed but not yet dialled")
    window_start: str = Field("08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    window_end: str = Field(
        "20:00", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="24:00: midnight"
    )
    timezone: str = "Asia/Shanghai"
    max_attempts: int = Field(3, ge=1, le=10)
    retry_spacing_s: list[float] = Field(
        default_factory=lambda: [1800.0, 7200.0], min_length=1, max_length=10
    )
    after_close_hours: float = Field(24.0, gt=0, description="repairs, high-voltage applications")
    reasks: int = Field(
        1, ge=0, le=3, description="a question without a valid answer is asked again this often"
    )


class DispatchSettings(_Section):
    """Repair dispatch (派单): calling the crew on duty within the 5-minute limit."""

    dispatcher: bool = Field(
        False, description="run the dispatcher in this bridge (any number may)"
    )
    trunk_context: str = Field(
        "outbound-trunk",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="dialplan context crews are dialled through (Local/<number>@ctx)",
    )
    originate_context: str = Field("dispatch-out", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    agi_url: str = Field(
        "",
        pattern=r"^(agi://[A-Za-z0-9.:-]{1,100})?$",
        description="FastAGI server for the answered leg; empty: the dialplan's IVR_AGI_URL",
    )
    caller_id: str = Field("95598", pattern=r"^[0-9]{3,16}$")
    limit_s: float = Field(300.0, ge=20, le=3600, description="the dispatch limit (5 minutes)")
    ring_timeout_s: float = Field(25.0, ge=3, le=120, description="longest ring of one call")
    min_ring_s: float = Field(10.0, ge=2, description="a call that could ring less is not placed")
    talk_budget_s: float = Field(
        60.0, ge=5, description="time kept for reading the order and the crew's 1"
    )
    risk_after_s: float = Field(180.0, gt=0, description="not accepted by then: alert")
    escalate_after_s: float = Field(
        150.0, ge=0, description="call escalation_phone by then (or after the first round)"
    )
    escalation_phone: str = Field(
        "", pattern=r"^[0-9]{0,16}$", description="e.g. the duty supervisor; empty: none"
    )
    rounds: int = Field(2, ge=1, le=10, description="each crew is called at most this often")
    max_plays: int = Field(3, ge=1, le=10, description="the order is read at most this often")
    digit_timeout_s: float = Field(5.0, ge=1, le=30, description="wait for 1/2 after the question")
    max_call_s: float = Field(
        120.0, ge=20, description="an answered call no end was seen of is finished by lease"
    )
    poll_interval_s: float = Field(1.0, gt=0, le=60)
    claim_lease_s: float = Field(15.0, ge=2, description="claimed but not yet dialled")
    max_order_age_s: float = Field(
        3600.0, ge=60, description="older repair orders still 'created' are not dispatched"
    )


class OutageSettings(_Section):
    """Storm days (docs/storm-days.md): outage notices in the menu from the outage register."""

    notices: bool = Field(
        True, description="read an active outage's notice to callers from its area"
    )
    refresh_s: float = Field(
        30.0, ge=1, le=3600, description="rebuild the in-memory notice index this often"
    )
    menu_choice: str = Field(
        "billing.outage_info",
        pattern=r"^[a-z][a-z0-9_.]{0,63}$",
        description="the menu route that reads the outages for the caller (menu 2-3)",
    )
    max_plays: int = Field(3, ge=1, le=10, description="the notice and its repeats")
    digit_timeout_s: float = Field(5.0, ge=1, le=30, description="wait for 1/2 after the notice")


class VirtualHoldSettings(_Section):
    """Virtual hold (docs/virtual-hold.md): a caller facing a long wait may keep their place
    and be called back when their turn comes (calls placed within ``[callback]``'s limits,
    calling hours, trunk and caller id)."""

    enabled: bool = Field(False, description="offer the call-back and place call-backs")
    dialer: bool = Field(
        True, description="this bridge also places call-backs (any number of bridges may)"
    )
    queues: list[str] = Field(
        default_factory=list,
        description="queues that offer it (q-…); empty: every queue the menu routes to",
    )
    threshold_s: float = Field(
        300.0, ge=0, le=7200, description="offer when the estimated wait is at least this"
    )
    handle_s: float = Field(
        180.0, ge=10, le=3600, description="assumed handle time until calls of the queue ended"
    )
    digit_timeout_s: float = Field(5.0, ge=1, le=30, description="wait for 1/2 after the offer")
    max_attempts: int = Field(2, ge=1, le=5, description="call-back attempts per kept place")
    retry_spacing_s: float = Field(
        120.0, ge=1, le=3600, description="an unanswered call-back is tried again after this"
    )
    max_call_s: float = Field(
        900.0, ge=60, description="an answered call-back not seen reaching an agent: failed"
    )
    announce_interval_s: float = Field(
        60.0, ge=0, le=3600, description="tell waiting callers their place this often; 0: never"
    )

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, queues: list[str]) -> list[str]:
        for queue in queues:
            if not re.fullmatch(r"q-[a-z0-9-]{1,30}", queue):
                raise ValueError(f"{queue!r} is not a queue name (q- and a-z, 0-9, -)")
        return queues


class TrackingSettings(_Section):
    """Answer-time figures (docs/answer-times.md, "Figures")."""

    short_abandon_s: float = Field(
        5.0, ge=0, le=120, description="abandons within this many seconds count apart"
    )
    timezone: str = Field("Asia/Shanghai", description="where 'today' begins on the dashboard")


class ThresholdSettings(_Section):
    """One headline figure's colours: green at or beyond ``green``, amber at or beyond
    ``amber``, red past that (ratios as fractions, waits in seconds)."""

    green: float = Field(ge=0)
    amber: float = Field(ge=0)


def _default_thresholds() -> dict[str, ThresholdSettings]:
    return {
        h.key: ThresholdSettings(green=h.default.green, amber=h.default.amber) for h in HEADLINES
    }


class QueueAlarmSettings(_Section):
    """When a queue raises an alarm on the wallboard: today's service level below
    ``service_level``, or more than ``waiting`` callers waiting now."""

    service_level: float = Field(0.80, ge=0, le=1)
    waiting: int = Field(5, ge=0, le=100_000)

    def limit(self) -> QueueAlarmLimit:
        return QueueAlarmLimit(self.service_level, self.waiting)


class DashboardSettings(_Section):
    """The supervisors' wallboard (docs/dashboard.md)."""

    language: Literal["zh", "en"] = Field("zh", description="labels on the page: zh or en")
    after_call_work_s: float = Field(
        3.0, ge=0, le=600, description="after-call work shown this long after a call ends "
        "(the queues' wrapuptime)",
    )  # fmt: skip
    not_answering_s: float = Field(
        300.0, ge=0, le=86_400, description="an agent whose last ring went unanswered is shown "
        "'not answering' this long (or until rung or answering again)",
    )  # fmt: skip
    thresholds: dict[str, ThresholdSettings] = Field(
        default_factory=_default_thresholds,
        description="per headline figure; figures not named keep their defaults",
    )
    queue_alarm: QueueAlarmSettings = Field(
        default_factory=QueueAlarmSettings,
        description="every queue's alarm limits (service level today, callers waiting now)",
    )
    queue_alarms: dict[str, QueueAlarmSettings] = Field(
        default_factory=dict, description="per queue (q-…): its own alarm limits"
    )

    @field_validator("queue_alarms")
    @classmethod
    def _alarm_queues(cls, value: dict[str, QueueAlarmSettings]) -> dict[str, QueueAlarmSettings]:
        for queue in value:
            if not re.fullmatch(r"q-[a-z0-9-]{1,30}", queue):
                raise ValueError(f"queue alarm for {queue!r}: not a queue name (q-…)")
        return value

    @field_validator("thresholds")
    @classmethod
    def _known_and_the_right_way_round(
        cls, value: dict[str, ThresholdSettings]
    ) -> dict[str, ThresholdSettings]:
        merged = {**_default_thresholds(), **value}
        for key, t in merged.items():
            try:
                check_threshold(key, Threshold(t.green, t.amber))
            except BadThreshold as exc:
                raise ValueError(str(exc)) from None
        return merged

    def rules(self) -> WallboardRules:
        return WallboardRules(
            self.language,
            {k: Threshold(t.green, t.amber) for k, t in self.thresholds.items()},
            self.after_call_work_s,
            self.not_answering_s,
            self.queue_alarm.limit(),
            {q: a.limit() for q, a in self.queue_alarms.items()},
        )


class AgentsSettings(_Section):
    """Agents' own state (docs/agent-state.md): the pause reasons they may give and the
    after-call work (话后处理) that keeps Asterisk from ringing them after each call."""

    pause_reasons: list[str] = Field(
        default_factory=lambda: ["小休", "就餐", "培训", "会议"],
        min_length=1,
        max_length=20,
        description="the reasons an agent may pause with (the report sums paused time by each)",
    )
    wrapup_s: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="after-call work after each answered queue call: the agent is paused this "
        "long (0: none), unless they say they are ready sooner",
    )
    transfer_queues: list[str] = Field(
        default_factory=lambda: ["q-repair", "q-billing", "q-business", "q-complaint", "q-general"],
        max_length=50,
        description="the queues an agent may blind-transfer a call to",
    )

    @field_validator("transfer_queues")
    @classmethod
    def _queues(cls, value: list[str]) -> list[str]:
        for queue in value:
            if not re.fullmatch(r"q-[a-z0-9-]{1,30}", queue):
                raise ValueError(f"transfer queue {queue!r} is not a queue name (q-…)")
        return value

    @field_validator("pause_reasons")
    @classmethod
    def _reasons(cls, value: list[str]) -> list[str]:
        for reason in value:
            # each becomes an AMI header value (QueuePause Reason) and a report column label
            if not 1 <= len(reason) <= 32 or not reason.isprintable() or reason != reason.strip():
                raise ValueError(f"pause reason {reason!r}: 1-32 printable characters")
            if reason.startswith("话后"):
                raise ValueError("话后… is the after-call work's own reason")
        if len(set(value)) != len(value):
            raise ValueError("pause reasons repeat")
        return value


class AlertsSettings(_Section):
    """The time-limit watch and the optional webhook its alerts are pushed to."""

    watch: bool = Field(True, description="run the watch in this bridge (any number may)")
    lead_fraction: float = Field(0.25, ge=0, lt=1, description="warn this share of a window early")
    min_lead_s: float = Field(120.0, ge=0, description="never warn later than this before a limit")
    max_lead_s: float = Field(86_400.0, gt=0, description="never warn earlier than this")
    lead_s: dict[str, float] = Field(
        default_factory=lambda: {"dispatch": 120.0},
        description="per limit name: warn exactly this many seconds before (overrides the rest)",
    )
    max_sleep_s: float = Field(30.0, gt=0, le=3600, description="look again at least this often")
    retry_s: float = Field(1.0, gt=0, description="first wait after a failed round (doubles)")
    met_late_horizon_h: float = Field(168.0, gt=0, description="alert deadlines met late since")
    webhook_url: str = Field("", pattern=r"^(https?://\S{1,2000})?$", description="empty: no push")
    webhook_secret: SecretStr = Field(SecretStr(""), description="HMAC key; or webhook_secret_file")
    webhook_secret_file: Path | None = Field(None, description="file holding the HMAC key")
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_backoff_first_s: float = Field(2.0, gt=0, description="first retry wait (doubles)")
    webhook_backoff_max_s: float = Field(600.0, gt=0, description="longest retry wait")
    webhook_batch: int = Field(20, ge=1, le=500)

    def webhook_key(self) -> bytes:
        """The signing secret (from the file if one is named); an error if none is set."""
        if self.webhook_secret_file is not None:
            secret = self.webhook_secret_file.read_text("utf-8").strip()
        else:
            secret = self.webhook_secret.get_secret_value()
        if not secret:
            raise ValueError(
                "alerts.webhook_url is set but no signing secret: set "
                "IVR_ALERTS__WEBHOOK_SECRET or alerts.webhook_secret_file"
            )
        return secret.encode("utf-8")


class CalendarSettings(_Section):
    """The working-day calendar (docs/work-orders.md, "Working-day calendar")."""

    schedule_file: Path | None = Field(
        None,
        description="the site's holiday schedule (放假安排) TOML; for the years it lists it "
        "wins over the chinesecalendar package; unset: the package alone",
    )


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    max_connections: int = Field(
        256, ge=1, le=100_000, description="open web connections; more are closed at once"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, le=300, description="time a client has to send its first request's headers"
    )


class SeatAmiSettings(AmiSettings):
    """The seats' own AMI login (manager.conf ``[ivr-seats]``), not the bridge's."""

    username: str = "ivr-seats"


class SeatSettings(_Section):
    """Agents' SIP seats (docs/seats.md): where the generated PJSIP include goes and the AMI
    user that may reload res_pjsip (write class ``system`` only, not the bridge's user)."""

    conf_dir: Path | None = Field(
        None,
        description="directory Asterisk reads pjsip_seats.conf from (pjsip.conf includes "
        "ivr/pjsip_seats.conf: /etc/asterisk/ivr); unset: seats cannot be changed here",
    )
    realm: str = Field(
        "ivr95598", pattern=r"^[A-Za-z0-9.-]{1,64}$", description="the digest realm of seats"
    )
    ami: SeatAmiSettings = SeatAmiSettings()


class RecordingSettings(_Section):
    """Call recording (docs/recording.md): where Asterisk writes, how long files are kept, and
    the thresholds of the automatic findings."""

    enabled: bool = Field(True, description="record answered, 回访 and dispatch calls")
    dir: Path = Field(
        DEFAULT_STATE_DIR / "recordings" / "calls",
        description="where MixMonitor writes (the same path for Asterisk and the bridge)",
    )
    retention_days: int = Field(
        180, ge=1, le=3650, description="files older than this are deleted (the row stays)"
    )
    keeper_interval_s: float = Field(
        3600.0, ge=1, le=86400, description="how often expired recordings are looked for"
    )
    finish_grace_s: float = Field(
        2.0, ge=0, le=60, description="wait after the call's end for Asterisk to close the files"
    )
    stuck_after_s: float = Field(
        7200.0, ge=60, description="a recording whose end was never reported is closed then"
    )
    spool_file: Path | None = Field(
        None,
        description="recording events the database could not take wait here (JSON lines); "
        "default: <dir>/.events.spool.jsonl",
    )
    short_call_s: float = Field(10.0, ge=0, description="finding short_call below this")
    opening_window_s: float = Field(10.0, ge=1, description="the opening must start within")
    long_silence_s: float = Field(8.0, ge=1, description="finding long_silence from this")
    over_talk_s: float = Field(2.0, ge=0.2, description="finding over_talk from this")
    playback_link_s: int = Field(
        300, ge=10, le=600, description="how long a signed playback link (the pages' player) lives"
    )


class InspectionItemSettings(_Section):
    """One item of the quality-inspection form."""

    key: str = Field(description="stored with the scores: lower-case letters, digits, _")
    label: str = Field(description="what the form shows, e.g. 标准开场白")
    weight: int = Field(ge=1, le=100, description="points the item is worth")


def _default_items() -> list[InspectionItemSettings]:
    return [
        InspectionItemSettings(key=i.key, label=i.label, weight=i.weight) for i in DEFAULT_ITEMS
    ]


class InspectionSettings(_Section):
    """Quality inspection (质检, docs/recording.md#quality-inspection): the form's items and
    weights, when an item counts as failed, and the sampling rule of the inspection queue."""

    items: list[InspectionItemSettings] = Field(default_factory=_default_items)
    pass_ratio: float = Field(
        0.6, gt=0, le=1, description="an item scored below this share of its weight is failed"
    )
    sample_share: float = Field(
        0.05, ge=0, le=1, description="share of each agent's recorded calls drawn per period"
    )
    sample_per: Literal["day", "month"] = Field(
        "day", description="the period the share is drawn over"
    )

    @model_validator(mode="after")
    def _a_standard(self) -> InspectionSettings:
        try:
            self.standard()
        except BadStandard as exc:
            raise ValueError(str(exc)) from None
        return self

    def standard(self) -> QualityStandard:
        items = tuple(InspectionItem(i.key, i.label, i.weight) for i in self.items)
        return QualityStandard(items, self.pass_ratio)


class LiveSettings(_Section):
    """Several bridges on one PostgreSQL: each shares its live picture and announces order
    changes (``LISTEN/NOTIFY``); on SQLite (one bridge) nothing is shared."""

    share: bool = Field(True, description="share the live picture on PostgreSQL")
    bridge_id: str = Field(
        "",
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:@-]*$",
        description="this bridge in the shared picture; empty: host, pid and a random part",
    )
    server: str = Field(
        "",
        max_length=128,
        description="this bridge's Asterisk in the shared picture; empty: asterisk.server_name",
    )
    publish_interval_s: float = Field(
        0.3, ge=0.05, le=5, description="a changed picture is written at most this often"
    )
    heartbeat_s: float = Field(2.0, ge=0.5, le=60, description="written at least this often")
    expire_s: float = Field(
        10.0, ge=2, le=600, description="a picture older than this is a dead bridge's"
    )

    @model_validator(mode="after")
    def _expiry_after_heartbeats(self) -> LiveSettings:
        if self.expire_s < 2 * self.heartbeat_s:
            raise ValueError("live.expire_s must be at least twice live.heartbeat_s")
        return self


class MonitorSettings(_Section):
    """Supervisor listen / whisper / barge (docs/recording.md#supervisor-listen-whisper-barge)."""

    tell_agent: bool = Field(
        False, description="the agent hears a beep when a supervisor starts listening"
    )


class Settings(BaseSettings):
    """All settings. Load with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="IVR_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    agi: AgiSettings = AgiSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    ami: AmiSettings = AmiSettings()
    database: DatabaseSettings = DatabaseSettings()
    speech: SpeechSettings = SpeechSettings()
    menu: MenuSettings = MenuSettings()
    sandbox: SandboxSettings = SandboxSettings()
    sip: SipSettings = SipSettings()
    web: WebSettings = WebSettings()
    callback: CallbackSettings = CallbackSettings()
    tracking: TrackingSettings = TrackingSettings()
    dashboard: DashboardSettings = DashboardSettings()
    agents: AgentsSettings = AgentsSettings()
    alerts: AlertsSettings = AlertsSettings()
    dispatch: DispatchSettings = DispatchSettings()
    calendar: CalendarSettings = CalendarSettings()
    seats: SeatSettings = SeatSettings()
    outages: OutageSettings = OutageSettings()
    virtual_hold: VirtualHoldSettings = VirtualHoldSettings()
    recording: RecordingSettings = RecordingSettings()
    live: LiveSettings = LiveSettings()
    monitor: MonitorSettings = MonitorSettings()
    inspection: InspectionSettings = InspectionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("IVR_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path`` (or ``$IVR_CONFIG``), overridden by ``IVR_*`` variables."""
    if path is not None:
        os.environ["IVR_CONFIG"] = str(path)
    config = os.environ.get("IVR_CONFIG")
    if config and not Path(config).is_file():
        raise FileNotFoundError(f"settings file {config} does not exist")
    return Settings()


def setting_source(key: str) -> str:
    """Where the setting ``key`` (dotted, ``web.port``) came from: the environment variable
    that overrides it, the settings file, or the defaults."""
    section_key = ".".join(key.split(".")[:2])
    env = "IVR_" + section_key.upper().replace(".", "__")
    if env in os.environ:
        return f"environment {env}"
    return os.environ.get("IVR_CONFIG") or "(defaults)"


class StartupError(Exception):
    """The bridge cannot start because of one setting; the message says what to do. Shown as
    one line: ``<file or environment variable>: <key>: <message>``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{setting_source(key)}: {key}: {message}")
        self.key = key
