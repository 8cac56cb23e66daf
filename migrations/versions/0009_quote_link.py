"""quotes linked to contacts and ties of a map

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quote_link',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('origin_device', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('version', sa.JSON(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('quote_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('map_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('alter_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tie_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.ForeignKeyConstraint(['alter_id'], ['network_alter.id'], ),
    sa.ForeignKeyConstraint(['map_id'], ['network_map.id'], ),
    sa.ForeignKeyConstraint(['quote_id'], ['quote.id'], ),
    sa.ForeignKeyConstraint(['tie_id'], ['network_tie.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quote_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quote_link_alter_id'), ['alter_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quote_link_map_id'), ['map_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quote_link_quote_id'), ['quote_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quote_link_tie_id'), ['tie_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('quote_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quote_link_tie_id'))
        batch_op.drop_index(batch_op.f('ix_quote_link_quote_id'))
        batch_op.drop_index(batch_op.f('ix_quote_link_map_id'))
        batch_op.drop_index(batch_op.f('ix_quote_link_alter_id'))
    op.drop_table('quote_link')
