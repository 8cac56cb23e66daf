"""map events indexed in the log's order, so a change reads only the latest events

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An index on an expression: maps.py orders by exactly this expression. Reflection does not see
    # expression indexes, so the models do not declare it (compare_metadata stays quiet).
    op.execute("CREATE INDEX ix_map_event_log_order ON map_event (map_id, json_extract(payload, '$.seq'), at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_map_event_log_order")
