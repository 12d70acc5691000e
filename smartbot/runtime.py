"""Everything one process needs to carry messages, built from Settings. No Flask here: the web app,
the `smartbot` command and the tests all use the same Runtime."""
from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import weakref
from typing import Any, Mapping

from . import audit
from .assistant import wiring
from .settings import provisioning
from .channels import registry
from .channels.webchat import WebChatChannel, WebChatConfig
from .settings.loading import warn_retired
from .settings.sections import Settings
from .storage.db import Database
from .pipeline.delivery import Delivery
from .executor.environment import OwnVariables, own_variables
from .executor.runner import CommandRunner, Limits
from .mcp.registry import McpRegistry
from .mcp.stored import StoredServers
from .gateway import inbox, outbox
from .gateway.connections import ConnectionHost
from .gateway.dispatch import Dispatcher
from .gateway.handoff import Claims, Handoff
from .gateway.ingest import Ingest
from .pipeline.handlers import HandlerContext
from .pipeline.handlers.approval_flow import APPROVAL, ApprovalJobs
from .pipeline.handlers.handoff_flow import HandoffJobs
from .router.profiles import PROFILES_VERSION, ProfileBook
from .storage import liveness, uploads
from .jobs.bell import Bell
from .jobs.celery_backend import WakeSender, make_celery, register_wake_task
from .jobs.local import LocalRunner, Upkeep
from .jobs.pressure import IngestPressure
from .assistant.provider_store import ProviderStore
from .router.store import RULES_VERSION, load_rules
from .storage.runtime_settings import version_reader
from .ops.agent import OpsAgent
from .ops.alerts import Alerter
from .ops.monitors import Monitors
from .ops.probe import ProviderProbe
from .ops.server_lock import ServerLock, lock_path
from .pipeline.connection_replies import ConnectionReplies
from .pipeline.decide import Pipeline
from .router import Router
from .storage.shared_state import LocalStore, open_store
from .pipeline.worker import MessageWorker
from .workflows.jobs import WORKFLOW, WorkflowJobs
from .knowledge.embeddings import Embedder
from .knowledge.jobs import KNOWLEDGE, KnowledgeJobs

log = logging.getLogger(__name__)


ROLES = ("all", "web", "worker")


class Runtime:
    """`role` matters only for jobs.backend = "celery": web nodes accept and hand out work, worker
    processes (`smartbot worker`) do it. With the local backend every process does both."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, role: str = "web") -> None:
        self.settings = settings
        warn_retired(settings)
        self.celery = make_celery(settings.jobs.broker_url, settings.jobs.queue) if settings.jobs.backend == "celery" else None
        self.role = role if self.celery is not None else "all"
        threads = settings.jobs.threads
        self.db = Database(settings.database_url, pool_size=10, max_overflow=threads + 2 * settings.server.threads)
        self.db.ensure_schema(settings.auto_migrate)
        audit.open_log(self.db, settings.secret_key, settings.audit.key_file)
        provisioning.provision(self.db, settings)
        self.channels: dict[str, Any] = registry.build_all(settings.channels)
        if settings.webchat.enabled:
            self.channels["webchat"] = WebChatChannel(WebChatConfig(), functools.partial(uploads.content, self.db))
        self.store = open_store(settings.cache.url, self.db)
        self.models = wiring.build_service(settings, os.environ if env is None else env, threads, self.store)
        self.providers = ProviderStore(self.db)
        self.model_health = wiring.connect(self.models, self.db, self.providers, settings)
        self.router = Router(lambda: load_rules(self.db), version_reader(self.db, RULES_VERSION))
        self.commands = CommandRunner(Limits.from_settings(settings.executor), os.environ if env is None else env,
                                      settings.executor.max_concurrent)
        self.profiles = ProfileBook(self.db, version_reader(self.db, PROFILES_VERSION))
        self.mcp = McpRegistry(settings.mcp_servers, os.environ if env is None else env,
                               Limits.from_settings(settings.executor), lambda: self._own_variables(),
                               StoredServers(self.db, settings, lambda: self._own_variables()))
        self.pipeline = Pipeline(settings, self.db, self.router, self.models, self.providers, self.commands,
                                 self.store, profiles=self.profiles, channels=self.channels, mcp=self.mcp)
        alerts = settings.alerts
        self.alerts = Alerter(self.db, settings, self.channels)
        self.models.on_provider_down.connect(self.alerts.provider_down)
        self.models.on_provider_up.connect(self.alerts.provider_up)
        self.probe = ProviderProbe(self.providers.chain, alerts.probe_seconds, alerts.probe_timeout)
        webhook_channels = tuple(sorted(n for n, c in self.channels.items() if c.accepts_webhooks))
        monitors = Monitors(alerts, settings.default_locale, self.db, self.alerts, self.probe, webhook_channels)
        self.ops = OpsAgent(monitors, lambda: self.runner.stats(), alerts.check_seconds,
                            ServerLock(lock_path(settings.database_url)))
        self._started = False
        self._stop_lock = threading.Lock()
        self._build_workers()
        hook = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (hook() or (lambda: None))())

    def _build_workers(self) -> None:
        """The job pool and the objects doing its work, wired to each other once: the runner calls
        them, they hand follow-ups back to the runner."""
        jobs = self.settings.jobs
        self.owner = liveness.owner_id()
        pressure = IngestPressure()
        self.runner = LocalRunner(jobs.threads, jobs.max_backlog, jobs.sweep_seconds, jobs.lease_seconds, pressure)
        dispatch = self.runner.dispatch
        handoff = Handoff(jobs.max_backlog, jobs.lease_seconds)
        claims = Claims(self.db, self.owner, jobs.lease_seconds, handoff)
        self.bell = Bell(jobs.broker_url if self.celery is not None else self.settings.cache.url, jobs.queue)
        self.delivery = Delivery(self.settings, self.db, self.channels, claims, dispatch, self.bell)
        self.connection_replies = ConnectionReplies(self.channels, self.delivery)
        self.worker = MessageWorker(self.settings, self.db, self.pipeline, self.channels, claims, self.delivery,
                                    dispatch)
        self.approvals = ApprovalJobs(HandlerContext(self.settings, self.db, self.models, self.providers,
                                                     self.settings.default_locale, self.commands, self.store,
                                                     mcp=self.mcp), dispatch)
        self.handoffs = HandoffJobs(self.approvals.ctx, dispatch)
        self.workflows = WorkflowJobs(HandlerContext(self.settings, self.db, self.models, self.providers,
                                                     self.settings.default_locale, self.commands, self.store,
                                                     mcp=self.mcp),
                                      self.channels, self.owner, jobs.lease_seconds, dispatch)
        self.knowledge = KnowledgeJobs(self.db, self.settings.knowledge,
                                       Embedder(self.settings.knowledge, self.models, self.providers), self.owner,
                                       jobs.lease_seconds, dispatch)
        wake = WakeSender(self.celery) if self.celery is not None else None
        self.dispatch = Dispatcher(self.runner, self.role != "web", self.owner, handoff, wake)
        # Refused webhooks are counted (for their audit rows) in Redis or in this process's memory, never
        # in the database: a flood of forged requests must not become a flood of database writes.
        refusals = self.store if self.settings.cache.url else LocalStore()
        self.ingest = Ingest(self.db, self.channels, self.dispatch.lease_owner, jobs.lease_seconds,
                             self.dispatch.accepted, self.settings.audit.refusal_audit_interval, pressure, refusals)
        self.runner.serve({inbox.KIND: self.worker.handle_message, outbox.KIND: self.delivery.deliver,
                           APPROVAL: self.approvals.run, WORKFLOW: self.workflows.run, KNOWLEDGE: self.knowledge.run},
                          Upkeep(recover=(self.worker.recover, self.delivery.recover, self.approvals.recover,
                                          self.handoffs.recover, self.workflows.recover, self.knowledge.recover,
                                          self.db.checkpoint),
                                 renew=(self.worker.renew, self.delivery.renew, self.workflows.renew,
                                        self.knowledge.renew),
                                 purge=(self.worker.purge, self.delivery.purge, self.workflows.purge)))
        if self.celery is not None and self.role == "worker":
            register_wake_task(self.celery, self.runner.offer)
        url = self.settings.database_url
        self.connections = ConnectionHost(self.db, self.channels, self.ingest, self.owner,
                                          self.settings.connections.takeover_seconds,
                                          lambda name: ServerLock(lock_path(url, f"connect-{name}")), self.alerts,
                                          self.settings.alerts.raise_after, self.settings.default_locale)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.role != "web":
            self.runner.start()
            self.model_health.start()     # only processes that call models watch their health
        self.ops.start()
        self.connections.start()
        self.connection_replies.start()
        atexit.register(self.stop)

    def runner_alive(self) -> bool:
        return self._started and (self.role == "web" or self.runner.alive())

    def stop(self, timeout: float = 10.0) -> None:
        """Finish running jobs (up to `timeout`), hand back the ones not started, close pools."""
        with self._stop_lock:
            if not self._started:
                return
            self._started = False
        self.connections.stop()
        self.connection_replies.stop()
        self.bell.close()
        self.model_health.stop()
        self.ops.stop()
        unstarted = self.runner.stop(timeout)
        try:
            for module in (inbox, outbox):
                ids = [row_id for kind, row_id in unstarted if kind == module.KIND]
                if ids:
                    module.requeue_unstarted(self.db, self.owner, ids)
        except Exception:
            log.exception("could not hand back unstarted jobs; their leases will expire instead")
        for channel in self.channels.values():
            channel.close()
        self.models.close()
        self.probe.close()
        self.mcp.close()

    def _own_variables(self) -> OwnVariables:
        """SmartBot's own variables now (with the providers added in the admin page): never given to
        a stdio MCP server, and masked in what any server answers."""
        with self.db.read() as conn:
            return own_variables(self.settings, conn)

    def _after_fork(self) -> None:
        # A forked child shares nothing with its parent's threads, leases or connections.
        self.db.after_fork()
        was_started = self._started
        self._started = False
        self._stop_lock = threading.Lock()
        self._build_workers()
        if was_started:
            self.start()
