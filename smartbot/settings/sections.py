"""The sections of smartbot.toml as typed dataclasses, each key with its default, limits and help,
and the checks that need more than one key. `loading.py` fills them from the file and the
environment; nothing here reads either."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..executor.settings import ApprovalsSettings, CommandSettings, ExecutorSettings
from ..llm.keys import DEFAULT_KEY_PATTERNS, base_url_problem
from ..mcp.client_settings import McpServerSettings
from ..mcp.server_settings import McpSettings
from ..ops.settings import AlertsSettings, OpsSettings
from .schema import require_unique_names, setting
from ..workflows.settings import WorkflowSettings
from ..knowledge.settings import KnowledgeSettings

ENV_PREFIX = "SMARTBOT_"
# Variables SmartBot reads for itself whatever the config says.
SERVER_VARIABLES = frozenset({"DATABASE_URL"})
LOCALES = ("en", "zh-CN")
KEY_PATTERN = re.compile(r"[A-Za-z_*?][A-Za-z0-9_*?]{0,99}")
MIN_TAKEOVER, MAX_TAKEOVER = 5.0, 600.0
_FIXED_WORKERS = "workers no longer start and stop with the load: [server] workers all run from the start"
# Keys that once did something and no longer do: accepted and ignored, so that last version's file
# still starts, with a warning at start (`warn_retired`) and in `smartbot check-config`.
RETIRED_KEYS = {
    "jobs.ack_spool": "the ack spool is gone: every webhook is stored in the inbox before it is answered",
    "server.idle_workers": _FIXED_WORKERS,
    "server.idle_seconds": _FIXED_WORKERS,
}


@dataclass
class ServerSettings:
    bind: str = setting("127.0.0.1:8080", help="host:port or unix:/path/to.sock")
    workers: int = setting(2, minimum=1, help="gunicorn worker processes, all running from the start")
    threads: int = setting(16, minimum=1)
    timeout: int = setting(30, minimum=1)
    graceful_timeout: int = setting(20, minimum=1)
    metrics_dir: str = setting("", help="folder gunicorn's workers share metrics in (emptied at start); "
                                        "default: a new temporary folder per start")
    fast_webhook_route: bool = setting(True, help="answer POST /webhooks/<channel> before Flask builds a request "
                                                  "context (the same answers, less CPU); false: through Flask")


@dataclass
class JobsSettings:
    backend: str = setting("local", choices=("local", "celery"))
    broker_url: str = setting("")
    broker_concurrency: int = setting(4, minimum=1, help="threads taking wake-ups from the broker per worker")
    queue: str = setting("smartbot", help="the broker queue this cluster's wake-ups travel on")
    threads: int = setting(64, minimum=1, help="worker threads per process (model calls wait on I/O)")
    lease_seconds: float = setting(30.0, minimum=2)
    max_backlog: int = setting(5000, minimum=1, help="jobs a process holds in memory; more wait in the inbox")
    sweep_seconds: float = setting(2.0, minimum=0.1)
    outbox_max_attempts: int = setting(12, minimum=1)
    outbox_backoff_max: float = setting(300.0, minimum=1)
    dedup_days: float = setting(7.0, minimum=1)

    def validate(self, path: str) -> None:
        if self.backend == "celery" and not self.broker_url:
            raise ConfigError(f"{path}.broker_url", "is required when jobs.backend = \"celery\"",
                              "set it to your Redis URL, e.g. redis://127.0.0.1:6379/0")


@dataclass
class ConnectionSettings:
    """Keys of `[channels]` itself (beside its `[channels.<name>]` tables): how the channels in connect
    mode are held, one process in the whole deployment per channel (gateway/connections.py)."""

    takeover_seconds: float = setting(15.0, minimum=MIN_TAKEOVER,
                                      help="when the process holding a channel's connection dies, another takes "
                                           "it over within this many seconds")

    def validate(self, path: str) -> None:
        if not MIN_TAKEOVER <= self.takeover_seconds <= MAX_TAKEOVER:     # also refuses NaN
            raise ConfigError(f"{path}.takeover_seconds",
                              f"must be between {MIN_TAKEOVER:g} and {MAX_TAKEOVER:g} seconds, got {self.takeover_seconds!r}",
                              "the default, 15, suits most servers")


@dataclass
class CacheSettings:
    url: str = setting("")


@dataclass
class ProviderSettings:
    name: str = setting(required=True, help="give each [[providers]] entry a unique name")
    kind: str = setting("openai", choices=("openai", "anthropic", "ollama"))
    base_url: str = setting(required=True, url=True, help="the API's base URL, e.g. https://api.openai.com/v1")
    api_key_env: str = setting("", help="name of the environment variable holding the API key")
    model: str = setting(required=True, help="the model name the API expects")
    connect_timeout: float = setting(5.0, minimum=0.1)
    read_timeout: float = setting(60.0, minimum=0.1)
    total_timeout: float = setting(90.0, minimum=0.1)
    max_retries: int = setting(2, minimum=0)
    max_tokens: int = setting(1024, minimum=1)
    temperature: float = setting(0.7, minimum=0)
    headers: dict[str, str] = setting({})
    enabled: bool = setting(True)
    prompt_price_per_1k: float = setting(0.0, minimum=0, help="price of 1,000 prompt tokens, for cost reports")
    completion_price_per_1k: float = setting(0.0, minimum=0, help="price of 1,000 completion tokens")
    vision: bool = setting(False, help="the model reads images: images users send go to it as image parts")

    def validate(self, path: str) -> None:
        problem = base_url_problem(self.base_url)
        if problem:
            raise ConfigError(f"{path}.base_url", problem, "write it like https://api.example.com/v1")


@dataclass
class ModelsSettings:
    default: str = setting("")
    fallback: list[str] = setting([])
    cache_max_entries: int = setting(1000, minimum=0, help="answers kept per cache_ttl value; 0 turns caching off")
    breaker_failures: int = setting(5, minimum=1, help="failures within breaker_window that open a circuit")
    breaker_window: float = setting(60.0, minimum=0.1)
    breaker_cooldown: float = setting(30.0, minimum=0.1, help="seconds an open circuit waits before a probe")
    health_interval: float = setting(30.0, minimum=0, help="seconds between provider health checks; 0 = off")


@dataclass
class ModelRouteSettings:
    """One [[model_routes]] entry: messages matching `match` go to `provider`, then `fallback`."""

    name: str = setting(required=True, help="give each [[model_routes]] entry a unique name")
    provider: str = setting(required=True, help="the name of a [[providers]] entry")
    match: dict[str, Any] = setting({}, help="channel, chat_id, role, command, keywords, regex, min_length, ...")
    fallback: list[str] = setting([])
    position: int = setting(100)
    cache_ttl: float = setting(0.0, minimum=0, help="seconds to reuse an answer to the same question; 0 = never")
    system_prompt: str = setting("")
    enabled: bool = setting(True)

    def validate(self, path: str) -> None:
        from ..assistant.routes import match_problems

        problems = match_problems(self.match)
        if problems:
            raise ConfigError(f"{path}.match", "; ".join(problems),
                              "see docs/routing.md for the match keys")


@dataclass
class RuleSettings:
    """One [[rules]] entry: a routing rule provisioned at start (read-only in the admin page)."""

    name: str = setting(required=True, help="give each [[rules]] entry a unique name")
    action: str = setting(required=True, help="chat, command, workflow, builtin or ignore")
    match: dict[str, Any] = setting({})
    params: dict[str, Any] = setting({})
    position: int = setting(100, minimum=0)
    enabled: bool = setting(True)

    def validate(self, path: str) -> None:
        from ..router.engine import validate_rule

        problems = validate_rule(self.match, self.action)
        if problems:
            raise ConfigError(path, "; ".join(problems), "see docs/routing.md for match keys and actions")


@dataclass
class RoleSettings:
    """One [[roles]] entry: permission patterns, optionally limited to some chats."""

    name: str = setting(required=True, help="give each [[roles]] entry a unique name")
    permissions: list[str] = setting([])
    description: str = setting("")
    chat_scope: list[str] | None = setting(None, help="chat keys (channel:chat_id); leave out for everywhere")

    def validate(self, path: str) -> None:
        from ..auth.permissions import valid_pattern

        for i, pattern in enumerate(self.permissions):
            if not valid_pattern(pattern):
                raise ConfigError(f"{path}.permissions[{i}]", f"{pattern!r} grants no known permission",
                                  "see GET /api/v1/permissions for what SmartBot checks")


@dataclass
class QuotaSettings:
    """Daily token quotas (UTC days). A user's own entry wins; else their most generous role's;
    a role without an entry is unlimited."""

    per_role: dict[str, int] = setting({"guest": 20000})
    per_user: dict[str, int] = setting({}, help="keys: a user's name, or channel:platform_user_id")
    messages_per_minute_per_role: dict[str, int] = setting({"guest": 10}, help="chat messages to the model")
    messages_per_minute_per_user: dict[str, int] = setting({})

    def validate(self, path: str) -> None:
        for section in ("per_role", "per_user", "messages_per_minute_per_role", "messages_per_minute_per_user"):
            for name, limit in getattr(self, section).items():
                if limit < 0:
                    raise ConfigError(f"{path}.{section}.{name}", f"must be at least 0, got {limit}")


@dataclass
class HandoffSettings:
    """[handoff]: where hand-offs to a person are announced, and when a quiet one goes back to the bot."""

    notify: list[str] = setting([], help="agents' chats told about hand-offs, as \"<channel>:<chat_id>\"")
    timeout_minutes: float = setting(60.0, minimum=1, help="a hand-off with no activity this long goes back to the bot")
    last_turns: int = setting(6, minimum=0, help="turns of the conversation shown to the agents (at most 50)")

    validate = ApprovalsSettings.validate       # the same "<channel>:<chat_id>" checks
    targets = ApprovalsSettings.targets


@dataclass
class MemorySettings:
    max_turns: int = setting(20, minimum=0)
    max_tokens: int = setting(3000, minimum=0)
    retention_days: float = setting(30.0, minimum=1)


MAX_MEDIA_BYTES = 50 * 1024 * 1024


@dataclass
class MediaSettings:
    """Images, voice notes and files users send: fetched by the worker from the platform's own
    file API, checked, used for one turn and dropped (only text is remembered)."""

    max_bytes: int = setting(10_485_760, minimum=1024,
                             help="the largest file fetched; a download is stopped at this size and refused")
    max_files: int = setting(4, minimum=0, help="attachments read per message; the rest are named")
    max_text_chars: int = setting(20000, minimum=0, help="characters of a text file (or a PDF's text) given to "
                                                         "the model; 0 = files are named, not read")
    tokens_per_image: int = setting(1000, minimum=0, help="tokens an image counts against the sender's quota")
    download_timeout: float = setting(30.0, minimum=1, help="seconds a download may take, reading included")

    def validate(self, path: str) -> None:
        if self.max_bytes > MAX_MEDIA_BYTES:
            raise ConfigError(f"{path}.max_bytes", f"at most {MAX_MEDIA_BYTES} bytes (a file is held in memory "
                                                  "for its turn)", f"set it to {MAX_MEDIA_BYTES} or less")


@dataclass
class SpeechSettings:
    """Voice notes are turned into text by an OpenAI-compatible `/audio/transcriptions` endpoint."""

    provider: str = setting("", help="name of the provider whose base_url and key transcribe voice; '' = none")
    model: str = setting("whisper-1", help="the transcription model name the API expects")
    tokens_per_minute: int = setting(500, minimum=0, help="tokens a minute of transcribed audio counts against "
                                                          "the sender's quota (estimated from the file's size)")


@dataclass
class AuditSettings:
    log_file: str = setting("", help="a file the audit events are also appended to (JSON lines)")
    refusal_audit_interval: float = setting(60.0, minimum=0)
    key_file: str = setting("", help="a file (mode 600) holding the audit chain's keys, written by `smartbot audit "
                                     "rotate-key`; empty: the key is derived from the signing key")


@dataclass
class WebchatSettings:
    """Every web chat visitor is anonymous: messages are bounded per chat (its cookie), per client
    address and for all visitors together, counted alike by every worker and node."""

    enabled: bool = setting(True)
    messages_per_minute_per_chat: int = setting(30, minimum=1, help="messages one visitor's chat may send a minute")
    messages_per_minute_per_address: int = setting(10, minimum=1, help="messages one client address may send a "
                                                                       "minute, cookie or not")
    guest_messages_per_hour: int = setting(600, minimum=1, help="messages all web chat visitors together may send "
                                                                "an hour: the model's anonymous budget")
    session_idle_days: float = setting(7.0, minimum=0.01, help="a chat's cookie is re-issued while in use and "
                                                               "expires after this many days unused")


@dataclass
class SecuritySettings:
    default_role: str = setting("guest", help="role of senders not bound to a user; '' refuses them")
    trusted_proxies: int = setting(0, minimum=0)
    provider_key_envs: list[str] = setting(list(DEFAULT_KEY_PATTERNS),
                                           help="names (or * ? patterns) of the variables a provider made in "
                                                "the admin page or API may take its key from")
    secure_cookies: bool = setting(False, help="mark every cookie Secure even when the request came over plain "
                                               "HTTP (a TLS proxy SmartBot is not told about); else only over HTTPS")

    def validate(self, path: str) -> None:
        for i, pattern in enumerate(self.provider_key_envs):
            problem = ("is not a variable name or pattern" if not KEY_PATTERN.fullmatch(pattern) else
                       "matches any variable, whatever secret it holds" if not pattern.strip("*?") else "")
            if problem:
                raise ConfigError(f"{path}.provider_key_envs[{i}]", f"{pattern!r} {problem}",
                                  'use names like "OPENAI_API_KEY" or patterns like "DEEPSEEK_*"')


@dataclass
class Settings:
    database_url: str = setting("sqlite:///var/smartbot.db")
    secret_key_env: str = setting("SMARTBOT_SECRET_KEY")
    secret_key_file: str = setting("secret_key", help="file holding the signing key when the secret_key_env "
                                                      "variable is not set; relative: beside the config file")
    default_locale: str = setting("en", choices=LOCALES)
    bot_name: str = setting("SmartBot")
    system_prompt: str = setting("You are {bot_name}, a helpful assistant. Answer in {language}.")
    max_body_bytes: int = setting(1_048_576, minimum=1024)
    auto_migrate: bool = setting(True)
    log_level: str = setting("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    log_format: str = setting("text", choices=("text", "json"))
    server: ServerSettings = field(default_factory=ServerSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    channels: dict[str, Any] = field(default_factory=dict)
    # `[channels] takeover_seconds` and its kind, read from the `[channels]` table by load().
    connections: Any = field(default_factory=ConnectionSettings, init=False)
    providers: list[ProviderSettings] = field(default_factory=list)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    model_routes: list[ModelRouteSettings] = field(default_factory=list)
    quotas: QuotaSettings = field(default_factory=QuotaSettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    webchat: WebchatSettings = field(default_factory=WebchatSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    approvals: ApprovalsSettings = field(default_factory=ApprovalsSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    commands: list[CommandSettings] = field(default_factory=list)
    mcp_servers: list[McpServerSettings] = field(default_factory=list)
    rules: list[RuleSettings] = field(default_factory=list)
    roles: list[RoleSettings] = field(default_factory=list)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)
    workflows: WorkflowSettings = field(default_factory=WorkflowSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)
    # Filled in by load(), not read from the file:
    config_path: str = ""
    retired: tuple[str, ...] = field(default=(), init=False)    # what to say about retired keys it held
    secret_key: str = field(default="", repr=False)
    secret_variables: frozenset[str] = frozenset()

    def is_server_secret(self, variable: str) -> bool:
        """Whether an environment variable belongs to SmartBot itself (its signing key, database URL,
        any SMARTBOT_* setting, or a variable a channel or provider setting names): such a variable
        never reaches a command, a tool server or a provider other than the one that names it."""
        return (variable.startswith(ENV_PREFIX) or variable in SERVER_VARIABLES
                or variable in self.secret_variables)

    def validate(self, path: str) -> None:
        for section in ("providers", "model_routes", "commands", "mcp_servers", "rules", "roles"):
            require_unique_names(section, getattr(self, section))
        names = [p.name for p in self.providers]
        for key, value in (("models.default", [self.models.default] if self.models.default else []),
                           ("models.fallback", self.models.fallback),
                           *((f"model_routes[{i}].provider", [r.provider]) for i, r in enumerate(self.model_routes)),
                           *((f"model_routes[{i}].fallback", r.fallback) for i, r in enumerate(self.model_routes))):
            for name in value:
                if name not in names:
                    raise ConfigError(key, f"names provider {name!r}, which is not among [[providers]]",
                                      f"use one of: {', '.join(names) or '(none configured)'}")
        if not self.database_url.split(":", 1)[0]:
            raise ConfigError("database_url", "is empty", "e.g. sqlite:///var/smartbot.db")
