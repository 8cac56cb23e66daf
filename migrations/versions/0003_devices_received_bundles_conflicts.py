"""devices, received bundles, conflicts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:38:59.312821
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conflict',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('record_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('record_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('local_version', sa.JSON(), nullable=False),
    sa.Column('incoming_version', sa.JSON(), nullable=False),
    sa.Column('incoming_fields', sa.JSON(), nullable=False),
    sa.Column('bundle_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflict_record_id'), ['record_id'], unique=False)

    op.create_table('device',
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('public_key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('accepted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('received_bundle',
    sa.Column('bundle_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('device_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('previous_sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('imported_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.device_id'], ),
    sa.PrimaryKeyConstraint('bundle_id'),
    sa.UniqueConstraint('device_id', 'sequence')
    )
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_received_bundle_device_id'), ['device_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('received_bundle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_received_bundle_device_id'))

    op.drop_table('received_bundle')
    op.drop_table('device')
    with op.batch_alter_table('conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conflict_record_id'))

    op.drop_table('conflict')
