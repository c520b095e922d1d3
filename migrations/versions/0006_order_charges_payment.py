"""orders: charges as at checkout, payment method and state, UTR, the times of each state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

MOMENTS = ('confirmed_at', 'shipped_at', 'delivered_at', 'cancelled_at', 'claimed_at', 'paid_at')
CHECKS = {
    'ck_orders_charges_not_negative': 'subtotal >= 0 AND delivery_fee >= 0 AND cod_fee >= 0',
    'ck_orders_total_adds_up': 'total = subtotal + delivery_fee + cod_fee',
    'ck_orders_payment_method_known': "payment_method IN ('cod', 'upi')",
    'ck_orders_payment_state_known': "payment_state IN ('pending', 'claimed', 'paid', 'not_received')",
    'ck_orders_utr_twelve_digits': 'utr IS NULL OR length(utr) = 12',
}


def upgrade():
    money = sa.Numeric(precision=14, scale=2)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subtotal', money, nullable=True))
        batch_op.add_column(sa.Column('delivery_fee', money, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cod_fee', money, server_default='0', nullable=False))
        batch_op.add_column(sa.Column('payment_method', sa.String(length=8), server_default='cod', nullable=False))
        batch_op.add_column(
            sa.Column('payment_state', sa.String(length=16), server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('utr', sa.String(length=12), nullable=True))
        for column in MOMENTS:
            batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    # Orders placed before charges existed cost their goods and nothing more.
    op.execute('UPDATE orders SET subtotal = total')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('subtotal', existing_type=money, nullable=False)
        for name, condition in CHECKS.items():
            batch_op.create_check_constraint(op.f(name), condition)


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for name in reversed(CHECKS):
            batch_op.drop_constraint(op.f(name), type_='check')
        for column in reversed(MOMENTS):
            batch_op.drop_column(column)
        batch_op.drop_column('utr')
        batch_op.drop_column('payment_state')
        batch_op.drop_column('payment_method')
        batch_op.drop_column('cod_fee')
        batch_op.drop_column('delivery_fee')
        batch_op.drop_column('subtotal')
