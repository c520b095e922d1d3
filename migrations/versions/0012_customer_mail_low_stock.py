"""customer mail, low stock, daily summary: an order's email, a product's low-stock mark, a
vendor's daily summary switch; sent mail keyed by what it is about, not only by order

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_stock_at', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_products_low_stock_at_not_negative'), 'low_stock_at IS NULL OR low_stock_at >= 0')

    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('daily_summary', sa.Boolean(), server_default=sa.true(), nullable=False))

    # Every mail sent so far was about an order: "order:<id>".
    with op.batch_alter_table('sent_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('about', sa.String(length=80), nullable=True))
    op.execute("UPDATE sent_mail SET about = 'order:' || CAST(order_id AS VARCHAR)")
    with op.batch_alter_table('sent_mail', schema=None) as batch_op:
        batch_op.alter_column('about', existing_type=sa.String(length=80), nullable=False)
        batch_op.alter_column('order_id', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint(op.f('uq_sent_mail_order_id_kind'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_sent_mail_kind_about'), ['kind', 'about'])
        batch_op.create_index(batch_op.f('ix_sent_mail_order_id'), ['order_id'], unique=False)


def downgrade():
    # Mail that was about no order cannot be kept in the old table.
    op.execute("DELETE FROM sent_mail WHERE order_id IS NULL")
    with op.batch_alter_table('sent_mail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_mail_order_id'))
        batch_op.drop_constraint(op.f('uq_sent_mail_kind_about'), type_='unique')
        batch_op.create_unique_constraint(op.f('uq_sent_mail_order_id_kind'), ['order_id', 'kind'])
        batch_op.alter_column('order_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('about')

    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.drop_column('daily_summary')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_products_low_stock_at_not_negative'), type_='check')
        batch_op.drop_column('low_stock_at')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('email')
