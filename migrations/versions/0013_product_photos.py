"""product photos: each product's photos, their state and renditions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('product_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('state', sa.String(length=12), server_default='processing', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('filename', sa.String(length=255), server_default='', nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('widths', sa.String(length=40), server_default='', nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('processing', 'ready', 'failed')", name=op.f('ck_product_photos_state_known')),
    sa.CheckConstraint('position >= 0', name=op.f('ck_product_photos_position_not_negative')),
    sa.CheckConstraint("state != 'ready' OR (width > 0 AND height > 0 AND widths != '')",
                       name=op.f('ck_product_photos_ready_has_size')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_photos_product_id_products'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_product_photos_vendor_id_vendors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_photos'))
    )
    with op.batch_alter_table('product_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_photos_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_photos_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_photos_vendor_id'), ['vendor_id'], unique=False)


def downgrade():
    with op.batch_alter_table('product_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_photos_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_product_photos_product_id'))
        batch_op.drop_index(batch_op.f('ix_product_photos_key'))
    op.drop_table('product_photos')
