"""guides, interview position and coverage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:19:11.096588
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guide',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('origin_device', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('version', sa.JSON(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('guide_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('guide_version', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('guide_id', 'guide_version')
    )
    with op.batch_alter_table('guide', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guide_guide_id'), ['guide_id'], unique=False)

    with op.batch_alter_table('interview', schema=None) as batch_op:
        batch_op.add_column(sa.Column('coverage', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('position', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('interview', schema=None) as batch_op:
        batch_op.drop_column('position')
        batch_op.drop_column('coverage')

    with op.batch_alter_table('guide', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guide_guide_id'))

    op.drop_table('guide')
