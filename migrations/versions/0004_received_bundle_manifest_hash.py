"""received bundles are known by the hash of their signed manifest

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:10:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.add_column(sa.Column('manifest_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.drop_column('manifest_sha256')
