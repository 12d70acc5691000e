"""Usage per model: `model_usage` gets the model that answered, in its unique key, so the usage page
can chart tokens and cost per model. Rows written before were answered by whatever model their
provider had; they get the model their provider names now (empty when the provider is gone).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

OLD_KEY = "uq_model_usage_day_user_key_provider"
NEW_KEY = "uq_model_usage_day_user_key_provider_model"


def upgrade() -> None:
    with op.batch_alter_table("model_usage") as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=False, server_default=""))
        batch_op.drop_constraint(OLD_KEY, type_="unique")
        batch_op.create_unique_constraint(NEW_KEY, ["day", "user_key", "provider", "model"])
    op.execute("UPDATE model_usage SET model = COALESCE((SELECT providers.model FROM providers "
               "WHERE providers.name = model_usage.provider), '')")


def downgrade() -> None:
    # Rows of one user, provider and day that differ only by model become one again, their sums kept.
    same = "m.day = model_usage.day AND m.user_key = model_usage.user_key AND m.provider = model_usage.provider"
    sums = ", ".join(f"{column} = (SELECT SUM(m.{column}) FROM model_usage m WHERE {same})"
                     for column in ("calls", "prompt_tokens", "completion_tokens", "cost"))
    first = "SELECT MIN(id) FROM model_usage GROUP BY day, user_key, provider"
    op.execute(f"UPDATE model_usage SET {sums} WHERE id IN ({first})")
    op.execute(f"DELETE FROM model_usage WHERE id NOT IN ({first})")
    with op.batch_alter_table("model_usage") as batch_op:
        batch_op.drop_constraint(NEW_KEY, type_="unique")
        batch_op.create_unique_constraint(OLD_KEY, ["day", "user_key", "provider"])
        batch_op.drop_column("model")
