"""received bundles remember their records' key, so the same records are not read again

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 04:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('records_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_received_bundle_records_key'), ['records_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_received_bundle_records_key'))
        batch_op.drop_column('records_key')
