"""One Settings object, read from the environment and validated at start."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, unquote_plus, urlsplit

from limits import parse_many
from publicsuffixlist import PublicSuffixList
from pydantic import (
    AliasChoices,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from offcoder.runtime.policy import SandboxRuntime


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


# The published disclosure policy (V1), a page of this server.
DISCLOSURE_PATH = "/security/disclosure"

# A security.txt contact (RFC 9116 2.5.3): an e-mail address, an https page or a phone number.
SecurityContact = Annotated[
    str, Field(pattern=r"^(mailto:[^@\s/]+@[^@\s/]+|https://[^\s]+|tel:\+?[0-9][0-9 ().-]*)$")
]
# A BCP 47 language tag, as security.txt's Preferred-Languages lists them.
LanguageTag = Annotated[str, Field(pattern=r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")]


class RateLimitStorage(StrEnum):
    """Where the rate-limit counters live (decision 0025)."""

    postgres = "postgres"  # the server's own database: shared by every API process on it
    redis = "redis"  # REDIS_URL's server: shared by every API process using it


def default_state_dir() -> Path:
    return Path.home() / ".local" / "share" / "offcoder"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OFFCODER_", extra="ignore")

    env: Environment = Environment.development
    state_dir: Path = Field(default_factory=default_state_dir)

    # Database. With no DATABASE_URL an embedded PostgreSQL (pgserver) runs under state_dir.
    # DATABASE_URL is the owner/administrator connection used for migrations; the server's
    # own connections use the application and system roles created from it (see db/roles).
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "OFFCODER_DATABASE_URL")
    )
    database_app_url: str | None = None
    database_system_url: str | None = None
    db_role_prefix: str = "offcoder"
    db_role_password: SecretStr | None = None
    db_pool_size: int = 10

    # Encryption keys (R2): a key file or an environment variable, never the database.
    key_file: Path | None = None
    keys: SecretStr | None = Field(default=None, validation_alias=AliasChoices("OFFCODER_KEYS"))
    # Each user's data key, wrapped by the keys above (V3 crypto-shredding, decision 0033): a
    # directory outside the database and its backups; state_dir/data-keys by default.
    data_key_dir: Path | None = None
    # Signing key for access tokens (A3), a PEM private key; generated in development.
    jwt_private_key_file: Path | None = None
    jwt_private_key: SecretStr | None = None

    public_url: str = "http://127.0.0.1:8000"
    jwt_issuer: str | None = None
    jwt_audience: str = "offcoder-api"
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 7 * 24 * 3600
    session_absolute_ttl_s: int = 30 * 24 * 3600
    refresh_reuse_grace_s: int = 0
    authorization_code_ttl_s: int = 120
    auth_request_ttl_s: int = 600
    # The device authorization grant (RFC 8628, decision 0032): how long a device code and its
    # user code live, and the polling interval a client is told (each slow_down adds 5 s).
    device_code_ttl_s: int = 600
    device_code_interval_s: int = 5

    # The allow-list of client redirect URIs for the sign-in broker (the app scheme, the console).
    redirect_uris: list[str] = Field(
        default_factory=lambda: ["offcoder://auth/callback", "http://127.0.0.1:8000/auth/done"]
    )

    # The five named providers (A1): each is on when its client id and secret are set. The base
    # URLs are settings so that tests (and GitHub Enterprise / self-managed GitLab) point them
    # elsewhere.
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_issuer: str = "https://accounts.google.com"
    gitlab_client_id: str | None = None
    gitlab_client_secret: SecretStr | None = None
    gitlab_issuer: str = "https://gitlab.com"
    linkedin_client_id: str | None = None
    linkedin_client_secret: SecretStr | None = None
    linkedin_issuer: str = "https://www.linkedin.com/oauth"
    github_client_id: str | None = None
    github_client_secret: SecretStr | None = None
    github_authorize_url: str = "https://github.com/login/oauth/authorize"
    github_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 - a URL
    github_api_url: str = "https://api.github.com"
    bitbucket_client_id: str | None = None
    bitbucket_client_secret: SecretStr | None = None
    bitbucket_authorize_url: str = "https://bitbucket.org/site/oauth2/authorize"
    bitbucket_token_url: str = "https://bitbucket.org/site/oauth2/access_token"  # noqa: S105
    bitbucket_api_url: str = "https://api.bitbucket.org/2.0"

    # A generic OpenID Connect provider (any other issuer; the development provider uses it).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_display_name: str = "OpenID Connect"
    # In development `serve --dev` starts a local provider on loopback and sets the above.
    dev_identity_provider: bool = False

    # Limits (api.md).
    max_file_bytes: int = 5 * 1024 * 1024
    max_project_bytes: int = 50 * 1024 * 1024
    # Storage one person may use (docs/api.md "Storage quotas"): projects (409 past it), and the
    # bytes of all their projects' files and ready dependency layers together (413 past it).
    max_projects_per_user: int = Field(default=100, ge=1, le=100_000)
    max_file_bytes_per_user: int = Field(default=500 * 1024 * 1024, ge=1, le=2**40)
    max_json_body_bytes: int = 1024 * 1024
    # A project's secrets all go into its job's environment and are held by the log redactor
    # for the job's life (C4, R3): at most this many (409), whose values add up to at most
    # this many bytes (413; the kernel refuses an environment past about 2 MiB).
    max_secrets_per_project: int = 100
    max_project_secret_bytes: int = 1024 * 1024

    audit_retention_days: int = 548  # 18 months (O3)

    # Jobs and the sandbox runtime (C1-C7). The server and workers reach Docker only through
    # the policy proxy's socket (`offcoder docker-proxy`).
    docker_proxy_socket: str = "/run/offcoder/docker.sock"
    job_default_timeout_s: int = 60
    job_max_timeout_s: int = 3600
    # Jobs one person may have waiting to run: one user cannot fill the queue for everyone.
    job_max_queued_per_user: int = Field(default=20, ge=1, le=10_000)
    # Jobs one person may have starting or running at once: past it their queued jobs wait,
    # and workers take other people's jobs meanwhile.
    job_max_running_per_user: int = Field(default=4, ge=1, le=10_000)
    # A job's output is kept this many days after the job ends, then deleted by the workers'
    # purge (or `offcoder jobs purge`); the job itself, its ending and usage stay.
    log_retention_days: int = Field(default=30, ge=1, le=36_500)
    job_max_log_bytes: int = 4 * 1024 * 1024
    # A job's output read from its sandbox but not yet taken for storing, at most (per job): past
    # it the worker stops reading and the program's writes wait; short of it they never wait
    # for the database.
    job_output_backlog_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    job_max_command_bytes: int = 16 * 1024
    # A job's CPU cap in cores (docs/api.md "Limits"): `job_cpus` for a user on no plan (or a
    # plan not listed), the plan's own for a user whose plan is active (or trialing) and listed
    # in `job_cpus_by_plan`. The policy proxy refuses a sandbox above its own maximum
    # (OFFCODER_PROXY_MAX_CPUS, default 1), so a cap here above that fails every such job.
    job_cpus: float = Field(default=0.5, ge=0.01, le=64)
    job_cpus_by_plan: dict[str, Annotated[float, Field(ge=0.01, le=64)]] = Field(
        default_factory=dict
    )
    # The kernel boundary a job runs behind (C1, decision 0022): `sandbox_runtime` for a user on
    # no plan (or a plan not listed), the plan's own for a user whose plan is in force and listed
    # in `sandbox_runtime_by_plan`. The policy proxy refuses a runtime not on its allow-list
    # (OFFCODER_PROXY_RUNTIMES, default this setting's value).
    sandbox_runtime: SandboxRuntime = SandboxRuntime.runc
    sandbox_runtime_by_plan: dict[str, SandboxRuntime] = Field(default_factory=dict)
    worker_concurrency: int = 4
    worker_heartbeat_s: float = 2.0
    worker_lost_after_s: float = 15.0
    # Previews (C7) are served at `<label>.<preview_domain>`: a registrable domain of its own,
    # apart from the API's and the console's (checked, `preview_domain_problem`), so a
    # preview's page is another site than the console's and can read none of its cookies.
    preview_domain: str = "preview.offcoder.localhost"
    # Open requests and WebSockets one preview may hold at once through the edge.
    preview_max_connections: int = Field(default=64, ge=1, le=10_000)
    # Egress mode (C5): the host names an egress job may reach through its filtering gateway
    # (exact names, or "*.suffix"; at most 32), and ports allowed besides 80 and 443.
    egress_allow_hosts: list[str] = Field(
        default_factory=lambda: ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"]
    )
    egress_extra_ports: list[int] = Field(default_factory=list)
    # Dependency layers (a project's installed packages, kept between its jobs): an install job
    # reaches only these registries through its egress gateway (ports besides 80 and 443 in
    # `dependency_registry_ports`; `[]` hosts turns installs off), from these index URLs; a
    # manifest is at most `dependency_manifest_max_bytes` (413) and a layer at most
    # `dependency_layer_max_bytes` on disk, or the room left in its owner's storage quota when
    # less (its install fails with ENOSPC past it).
    dependency_registry_hosts: list[str] = Field(
        default_factory=lambda: ["pypi.org", "files.pythonhosted.org", "registry.npmjs.org"]
    )
    dependency_registry_ports: list[int] = Field(default_factory=list)
    dependency_pip_index_url: str = "https://pypi.org/simple/"
    dependency_npm_registry: str = "https://registry.npmjs.org/"
    dependency_manifest_max_bytes: int = Field(default=64 * 1024, ge=1)
    dependency_layer_max_bytes: int = Field(
        default=1_000_000_000, ge=16 * 1024 * 1024, le=4_000_000_000
    )
    dependency_install_timeout_s: int = Field(default=600, ge=1)

    # Live logs over Socket.IO (D2). Browsers may connect only from these origins (default: the
    # origin of public_url). With REDIS_URL, python-socketio's Redis manager links the replicas.
    web_origins: list[str] = Field(default_factory=list)
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "OFFCODER_REDIS_URL")
    )
    socketio_channel: str = "offcoder-socketio"  # the Redis channel of the Socket.IO manager
    live_max_subscriptions: int = 16  # open job subscriptions per connection
    live_max_connections_per_user: int = 20  # open Socket.IO connections per user, per process
    max_waiting_requests_per_user: int = 10  # long-polls (wait_s) held per user, per process
    live_subscribes_per_minute: int = 60  # job:subscribe calls per connection
    live_max_queued_packets: int = 512  # unsent packets before a subscriber counts as behind
    live_behind_grace_s: float = 10.0  # how long a subscriber may stay behind before it is cut
    live_session_check_s: float = 15.0  # how often an open connection's session is re-checked

    # Rate limits (docs/api.md "Rate limits", decision 0025), in the `limits` notation: "N/unit"
    # (second, minute, hour, day; "N/10 seconds"), several joined by ";" (all must hold). Past one,
    # the answer is 429 with Retry-After. Counted in `rate_limit_storage`: PostgreSQL by default,
    # Redis when REDIS_URL is set, so every API process on the same database (or Redis) shares
    # the counts.
    rate_limit_storage: RateLimitStorage | None = None  # None: redis with REDIS_URL, else postgres
    rate_limit_key_prefix: str = "offcoder-ratelimit"  # Redis keys (one prefix per deployment)
    # Per client address (the ASGI peer; an IPv6 client by its /64): starting a sign-in, the
    # providers' callbacks (and the console's), and exchanging a one-time code. Each start
    # writes a row, so this also bounds the sign-in rows one address can make (review F8).
    rate_limit_sign_in: str = "60/minute"
    # Per client address: refresh-token grants at POST /v1/auth/token (a client refreshes about
    # every 15 minutes; many devices may share an address behind carrier NAT).
    rate_limit_token_refresh: str = "30/minute"  # noqa: S105 - a rate, not a secret
    # Per user: every request that carries an access token (Coder allows 512 a minute).
    rate_limit_api: str = "512/minute"
    # Per user: POST /v1/auth/mfa/verify, on top of the factor's own lockout (5 wrong codes
    # lock it for 5 minutes).
    rate_limit_mfa_verify: str = "10/minute"
    # Per client address: POST /v1/auth/device/code (each writes a row, like a sign-in start).
    rate_limit_device_code: str = "10/minute;60/hour"
    # Per signed-in user and, apart, per client address: user codes looked up, approved or
    # denied at /console/device. A user code has 20^8 (about 2^34.6) values and lives 10
    # minutes: these bound how much of that space one person or address can try.
    rate_limit_device_verify: str = "10/minute;60/hour"
    # Per Socket.IO connection: every event a client sends (besides the per-event caps above).
    # A refused event is answered `{"ok": false, "error": "rate_limited", "retry_after": s}`;
    # a connection that sends this many refused events in a row is disconnected.
    rate_limit_live_messages: str = "600/minute"
    live_refusals_before_disconnect: int = Field(default=20, ge=1)

    # Admin sessions (O4): a second factor proved at most this long ago, and recent use.
    admin_mfa_max_age_s: int = 3600
    admin_idle_s: int = 15 * 60
    # Four eyes (review F11): a credit grant above this many minor units, or a plan grant
    # longer than this many days, waits for a second finance admin's approval.
    admin_approval_threshold: int = Field(default=10_000, ge=0)
    admin_approval_plan_days: int = Field(default=31, ge=0)

    # Data export archives (V3): downloadable this long after they are ready, then purged.
    export_ttl_s: int = Field(default=24 * 3600, ge=60)
    # The admin dashboard (admin/dashboard, decision 0036): its own app on its own address,
    # loopback unless an operator names an internal one. Port 0 means the public port + 1.
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=0, ge=0, le=65535)
    # Where browsers reach the dashboard (its sign-in callback, cookies' Secure flag, the CSRF
    # origin check); unset, http://<admin_host>:<admin port>.
    admin_url: str | None = None
    # A dashboard session lasts this long after its last request, and never longer than
    # the absolute limit; money and erasure actions need a factor proved within the step-up.
    admin_session_idle_s: int = Field(default=15 * 60, ge=1)
    admin_session_absolute_s: int = Field(default=8 * 3600, ge=1)
    admin_step_up_s: int = Field(default=5 * 60, ge=1)

    # Wallet and payments (P1-P4). Amounts are integers of the currency's minor unit.
    currencies: list[str] = Field(default_factory=lambda: ["USD", "EUR", "GBP", "INR"])
    default_currency: str = "USD"  # the currency of a wallet made before its first top-up
    topup_min: int = 100
    topup_max: int = 1_000_000
    # What a job costs, per currency, in minor units per minute of sandbox time (started
    # minutes are charged by the second). A currency absent here runs jobs free.
    job_price_per_minute: dict[str, int] = Field(default_factory=dict)
    # Plans a user may subscribe to through Stripe: plan name -> Stripe price id.
    stripe_plans: dict[str, str] = Field(default_factory=dict)
    # Stripe: on when the secret key is set. The base URL is a setting for tests and proxies.
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_tolerance_s: int = 300
    # Razorpay (India): on when the key id and secret are set.
    razorpay_key_id: str | None = None
    razorpay_key_secret: SecretStr | None = None
    razorpay_webhook_secret: SecretStr | None = None
    razorpay_api_base: str = "https://api.razorpay.com"  # the SDK adds /v1
    razorpay_currencies: list[str] = Field(default_factory=lambda: ["INR"])
    # Where the hosted checkout sends the customer back (default: the console's wallet page).
    checkout_return_url: str | None = None

    # The AI gateway (S1, S3). Base URLs per provider are settings (self-hosted OpenAI-compatible
    # servers, proxies, the tests' stand-ins); a provider not listed uses its public endpoint.
    ai_base_urls: dict[str, str] = Field(default_factory=dict)
    ai_timeout_s: float = 60.0  # per read from the provider (and between streamed chunks)
    ai_deadline_s: float = 600.0  # per call as a whole, streams included
    ai_max_open_chats: int = 4  # per user and process, streams included (429 beyond)
    ai_max_tokens: int = 8192
    ai_max_messages: int = 100
    ai_max_prompt_chars: int = 200_000
    # The provider layer of content safety (S1): OpenAI's moderation API (or a server that
    # speaks it) with the operator's key, on when the key is set. A stream is checked every
    # `ai_moderation_stream_chars` characters and at its end (the offline layer: every piece).
    ai_moderation_api_key: SecretStr | None = None
    ai_moderation_base_url: str = "https://api.openai.com/v1"
    ai_moderation_model: str = "omni-moderation-latest"
    ai_moderation_timeout_s: float = 10.0
    ai_moderation_stream_chars: int = Field(default=1000, ge=100)
    # When the moderation API cannot answer: refuse the chat (default), or let the offline
    # verdict stand.
    ai_moderation_fail_open: bool = False

    # Vulnerability disclosure (V1): what `/.well-known/security.txt` (RFC 9116) says. Contacts
    # are URIs, the preferred first; the policy is our own disclosure page unless set; the file's
    # Expires is this many days after each request (RFC 9116 advises less than a year).
    security_contacts: list[SecurityContact] = Field(
        default_factory=lambda: ["mailto:security@offcoder.com"], min_length=1
    )
    security_policy_url: str | None = None
    security_languages: list[LanguageTag] = Field(default_factory=lambda: ["en"], min_length=1)
    security_txt_valid_days: int = Field(default=180, ge=1, le=365)

    # Breach notification e-mails (V2, decision 0034): the SMTP relay the worker sends through.
    # With no host the queue waits: nothing is sent, nothing is lost.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS on a plain port (587); false only for a relay on loopback or in the same pod.
    smtp_starttls: bool = True
    smtp_from: str = "OffCoder <privacy@offcoder.com>"
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # Tries per e-mail before it is marked failed; the waits between double from the first.
    smtp_max_attempts: int = Field(default=8, ge=1)
    smtp_retry_first_s: float = Field(default=60.0, gt=0)
    # Who people write to about their data: in every breach e-mail, and published with the
    # sub-processors (DPDP Act s. 8(9)/(10) and Rule 9: the grievance officer's contact).
    privacy_contact: str = "privacy@offcoder.com"
    grievance_officer_name: str = "Grievance Officer, OffCoder"
    grievance_officer_email: str = "grievance@offcoder.com"

    host: str = "127.0.0.1"
    port: int = 8000
    log_json: bool = False

    # TLS (T1, decision 0023): with both files set, `serve` speaks HTTPS itself, under our own
    # SSLContext (web/tls.py); the files are checked every `tls_reload_interval_s` and a renewed
    # pair is served to new connections without a restart.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls13_only: bool = False
    tls_reload_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # The TLS-terminating proxies in front of us (T3): only a peer in one of these networks is
    # believed when it says, in X-Forwarded-Proto / Forwarded / X-Forwarded-For, that a request
    # came over HTTPS and from whom. Empty: nobody is (uvicorn's own default trusts loopback).
    # From the environment as a JSON list or comma-separated: `127.0.0.1,::1`, `10.0.0.0/8`.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_as_written(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def serves_tls(self) -> bool:
        """Whether this process terminates TLS itself (a certificate or a key is configured;
        `web/tls.py` refuses one without the other)."""
        return self.tls_cert_file is not None or self.tls_key_file is not None

    @field_validator(
        "rate_limit_sign_in",
        "rate_limit_token_refresh",
        "rate_limit_api",
        "rate_limit_mfa_verify",
        "rate_limit_device_code",
        "rate_limit_device_verify",
        "rate_limit_live_messages",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        # Refused at start, not at the first request it would have governed.
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                'not a rate limit: write "N/unit" (second, minute, hour, day), several joined '
                'by ";", e.g. "10/second;100/minute"'
            ) from None
        return value

    @model_validator(mode="after")
    def _rate_limit_storage_reachable(self) -> Settings:
        if self.rate_limit_storage is RateLimitStorage.redis and not self.redis_url:
            raise ValueError("OFFCODER_RATE_LIMIT_STORAGE is redis, but REDIS_URL is not set")
        return self

    @property
    def rate_limit_store(self) -> RateLimitStorage:
        """Where the counters live: as set, else Redis when REDIS_URL is set, else PostgreSQL."""
        if self.rate_limit_storage is not None:
            return self.rate_limit_storage
        return RateLimitStorage.redis if self.redis_url else RateLimitStorage.postgres

    def operator_secrets(self) -> list[str]:
        """Every secret value the operator configured: each SecretStr setting (client secrets,
        webhook secrets, keys), and the password of every URL in the settings (database,
        Redis, base URLs), as written in the URL and percent-decoded."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
                continue
            for text in _texts(value):
                found.extend(url_passwords(text))
        return list(dict.fromkeys(value for value in found if value))

    @property
    def console_callback_url(self) -> str:
        """Where sign-in hands the web console its one-time code (always allowed)."""
        return self.public_url.rstrip("/") + "/console/callback"

    @property
    def admin_listen_port(self) -> int:
        return self.admin_port or self.port + 1

    @property
    def admin_base_url(self) -> str:
        if self.admin_url:
            return self.admin_url.rstrip("/")
        host = self.admin_host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - naming the wildcard, not binding it
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.admin_listen_port}"

    @property
    def admin_callback_url(self) -> str:
        """Where sign-in hands the admin dashboard its one-time code (always allowed)."""
        return self.admin_base_url + "/callback"

    @property
    def disclosure_policy_url(self) -> str:
        """Where security.txt's Policy points: the operator's page, or our own (V1)."""
        return self.security_policy_url or self.public_url.rstrip("/") + DISCLOSURE_PATH

    @property
    def allowed_web_origins(self) -> list[str]:
        if self.web_origins:
            return [origin.rstrip("/") for origin in self.web_origins]
        scheme, _, rest = self.public_url.partition("://")
        return [f"{scheme}://{rest.split('/', 1)[0]}"]

    @property
    def checkout_return(self) -> str:
        return self.checkout_return_url or self.public_url.rstrip("/") + "/console/wallet"

    @property
    def issuer(self) -> str:
        return self.jwt_issuer or self.public_url.rstrip("/")

    @model_validator(mode="after")
    def _preview_domain_apart(self) -> Settings:
        problem = preview_domain_problem(self.preview_domain, self.public_url)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    def production_problems(self, process: str = "api") -> list[str]:
        """Why this configuration must not run `process` ("api" or "worker") in production;
        empty when it may. A worker signs no token, listens on no address and makes no AI
        call, so it is not asked for what only the API needs."""
        problems: list[str] = []
        if not self.is_production:
            return problems
        api = process == "api"
        if self.dev_identity_provider:
            problems.append(
                "the development identity provider is enabled (OFFCODER_DEV_IDENTITY_PROVIDER / "
                "--dev): anyone could sign in as anyone"
            )
        state = self.state_dir.resolve()
        if self.keys is None and (
            self.key_file is None or self.key_file.resolve().is_relative_to(state)
        ):
            problems.append(
                "the encryption key file is the generated one in the state directory: set "
                "OFFCODER_KEYS or OFFCODER_KEY_FILE to a key kept outside the data directory"
            )
        if self.database_url is None and (
            self.data_key_dir is None or self.data_key_dir.resolve().is_relative_to(state)
        ):
            problems.append(
                "the users' data keys are kept in the state directory next to the embedded "
                "database: a backup of that directory would hold both, and erasure could not "
                "shred it (decision 0033); set OFFCODER_DATA_KEY_DIR outside the state directory"
            )
        if (
            api
            and self.jwt_private_key is None
            and (
                self.jwt_private_key_file is None
                or self.jwt_private_key_file.resolve().is_relative_to(state)
            )
        ):
            problems.append(
                "the token signing key is the generated one in the state directory: set "
                "OFFCODER_JWT_PRIVATE_KEY or OFFCODER_JWT_PRIVATE_KEY_FILE"
            )
        if api and not self.serves_tls and not is_loopback(self.host):
            problems.append(
                f"plain HTTP would listen on the public address {self.host}: set "
                "OFFCODER_TLS_CERT_FILE and OFFCODER_TLS_KEY_FILE, or serve on loopback behind a "
                "TLS-terminating proxy"
            )
        # T3: in production the API answers only requests that came over HTTPS. With neither
        # our own TLS nor a proxy we believe, no request ever would: refuse to start instead of
        # serving nothing but refusals.
        if api and not self.serves_tls and not self.trusted_proxies:
            problems.append(
                "nothing would bring requests over HTTPS: set OFFCODER_TLS_CERT_FILE and "
                "OFFCODER_TLS_KEY_FILE, or put a TLS-terminating proxy in front and name its "
                "address in OFFCODER_TRUSTED_PROXIES (see deploy/Caddyfile)"
            )
        # Website pages over plain HTTP are redirected to the public URL (T3), sign-in hands
        # codes back to it and tokens name it as their issuer: it must be HTTPS.
        if api and urlsplit(self.public_url).scheme != "https":
            problems.append(f"OFFCODER_PUBLIC_URL ({self.public_url}) is not an https:// URL")
        if self.database_url is None:
            problems.append("the embedded PostgreSQL is for development: set DATABASE_URL")
        # RFC 9116 2.5.7: a Policy web URI must be https; ours follows OFFCODER_PUBLIC_URL.
        if api and self.security_policy_url and not self.security_policy_url.startswith("https://"):
            problems.append(
                "OFFCODER_SECURITY_POLICY_URL is not an https URL: security.txt must point "
                "researchers at the disclosure policy over https"
            )
        # The AI SDKs add these to every request they make, and every user's AI call goes
        # through them: the operator's organisation or headers must not ride on users' calls.
        leaking = [name for name in AI_SDK_ENVIRONMENT if api and os.environ.get(name)]
        if leaking:
            problems.append(
                f"{', '.join(leaking)} would be added by the AI SDKs to every user's AI call: "
                "unset them for the server"
            )
        return problems


AI_SDK_ENVIRONMENT = (
    "OPENAI_ADMIN_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_CUSTOM_HEADERS",
    "ANTHROPIC_CUSTOM_HEADERS",
)


def _texts(value: object) -> list[str]:
    """The strings a setting holds: itself, or the items of a list or the values of a dict."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    return [value] if isinstance(value, str) else []


def url_passwords(text: str) -> list[str]:
    """The passwords in a URL (user:password@host, and a `password` query parameter, as libpq
    takes it), each as written and percent-decoded; nothing for text that is not a URL."""
    if "://" not in text:
        return []
    try:
        parts = urlsplit(text)
    except ValueError:
        return []
    forms: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        password = userinfo.partition(":")[2]
        forms += [password, unquote(password)]
    for field in parts.query.split("&"):
        key, equals, value = field.partition("=")
        if equals and unquote_plus(key).lower() == "password":
            forms += [value, unquote_plus(value)]
    return list(dict.fromkeys(forms))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refused_settings(error: ValidationError) -> list[str]:
    """Each setting `Settings()` refused, as a sentence naming its environment variable and
    why; never the value, which may be a secret."""
    refused = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = field if field.isupper() else f"OFFCODER_{field.upper()}"
        refused.append(f"{variable}: {problem['msg']}")
    return refused


_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def preview_domain_problem(preview_domain: str, public_url: str) -> str | None:
    """Why `preview_domain` cannot serve previews beside `public_url`, or None (C7).

    A preview is a page its job's author wrote: served from a host of the API's own registrable
    domain (the public suffix list decides what that is), it would be the same site as the
    console, and its scripts could send requests that carry the console's SameSite cookies."""
    name = preview_domain.strip().lower()
    labels = name.split(".")
    if len(name) > 200 or len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(x) for x in labels):
        return (
            f"OFFCODER_PREVIEW_DOMAIN={preview_domain!r} is not a domain name with at least two "
            "labels of letters, digits and hyphens"
        )
    api_host = (urlsplit(public_url).hostname or "").lower()
    psl = PublicSuffixList()
    preview_site = psl.privatesuffix(name) or name
    api_site = psl.privatesuffix(api_host) if api_host else None
    if api_site is not None and not _is_address(api_host) and api_site == preview_site:
        return (
            f"OFFCODER_PREVIEW_DOMAIN={preview_domain!r} is on the same site ({api_site}) as the "
            f"API at {public_url}: previews need a registrable domain of their own, so that a "
            "preview's page cannot act as the console (e.g. preview.example-usercontent.com "
            "for api.example.com)"
        )
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@lru_cache
def get_settings() -> Settings:
    return Settings()
