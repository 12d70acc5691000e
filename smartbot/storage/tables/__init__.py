"""SQLAlchemy models. Every table lives in one of these modules; Alembic migrations mirror them."""
from __future__ import annotations

from .base import Base, now
from .identity import Identity, LoginFailure, RevokedToken, Role, User, UserRole
from .queues import Inbox, Outbox
from .conversation import Conversation, ConversationMessage
from .audit import AuditHead, AuditLog
from .runtime_config import Provider, Rule, Setting
from .executor import Approval, Command
from .llm import ModelRoute, ModelUsage
from .ops import AlertState, ChannelLease, SharedCounter
from .workflows import Schedule, Workflow, WorkflowRun, WorkflowStep
from .signatures import SeenSignature
from .previews import MessagePreview
from .uploads import ChatUpload
from .api_tokens import ApiToken, McpSession
from .chat_care import Handoff, Profile
from .knowledge import KnowledgeChunk, KnowledgeDocument, KnowledgeSpace
from .mcp_servers import McpServer

__all__ = [
    "Base", "now", "Identity", "LoginFailure", "RevokedToken", "Role", "User", "UserRole", "Inbox", "Outbox", "Conversation",
    "ConversationMessage", "AuditHead", "AuditLog", "Provider", "Rule", "Setting", "AlertState", "ChannelLease", "SharedCounter",
    "Approval", "Command", "ModelRoute", "ModelUsage", "Schedule", "Workflow", "WorkflowRun", "WorkflowStep",
    "SeenSignature", "MessagePreview", "ChatUpload", "Handoff", "Profile", "ApiToken", "McpSession",
    "KnowledgeSpace", "KnowledgeDocument", "KnowledgeChunk",
    "McpServer",
]
