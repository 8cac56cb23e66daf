"""guide drafts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:42:21.956379
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guide_draft',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('guide_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('model', sa.JSON(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('guide_draft')
