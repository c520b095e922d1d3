"""store settings on vendors: WhatsApp, UPI ID, payment methods, delivery terms, open

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

MONEY_COLUMNS = ('delivery_fee', 'free_delivery_from', 'min_order', 'cod_fee')


def upgrade():
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('whatsapp', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('upi_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('accept_cod', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('accept_upi', sa.Boolean(), server_default=sa.false(), nullable=False))
        for column in MONEY_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.add_column(sa.Column('open', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_check_constraint(op.f('ck_vendors_a_payment_method'), 'accept_cod OR accept_upi')
        batch_op.create_check_constraint(
            op.f('ck_vendors_upi_needs_upi_id'), 'NOT accept_upi OR upi_id IS NOT NULL')
        batch_op.create_check_constraint(
            op.f('ck_vendors_whatsapp_e164'),
            "whatsapp IS NULL OR (whatsapp LIKE '+91%' AND length(whatsapp) = 13)")
        for column in MONEY_COLUMNS:
            batch_op.create_check_constraint(
                op.f(f'ck_vendors_{column}_not_negative'), f'{column} IS NULL OR {column} >= 0')


def downgrade():
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        for column in MONEY_COLUMNS:
            batch_op.drop_constraint(op.f(f'ck_vendors_{column}_not_negative'), type_='check')
        batch_op.drop_constraint(op.f('ck_vendors_whatsapp_e164'), type_='check')
        batch_op.drop_constraint(op.f('ck_vendors_upi_needs_upi_id'), type_='check')
        batch_op.drop_constraint(op.f('ck_vendors_a_payment_method'), type_='check')
        batch_op.drop_column('open')
        for column in reversed(MONEY_COLUMNS):
            batch_op.drop_column(column)
        batch_op.drop_column('accept_upi')
        batch_op.drop_column('accept_cod')
        batch_op.drop_column('upi_id')
        batch_op.drop_column('whatsapp')
