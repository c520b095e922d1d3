"""order numbers: on PostgreSQL each store's own sequence (made and dropped with the store by a
trigger), no longer a counter on the store's row; vendors.last_order_number goes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# dukaan.orders.numbers_sequence names the same sequences.
FUNCTIONS = """
CREATE FUNCTION order_numbers_made() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A store id used again (a test database emptied, its ids set back) starts again at 1.
    EXECUTE format('DROP SEQUENCE IF EXISTS %I', 'order_numbers_' || NEW.id);
    EXECUTE format('CREATE SEQUENCE %I', 'order_numbers_' || NEW.id);
    RETURN NULL;
END $$;
CREATE FUNCTION order_numbers_dropped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP SEQUENCE IF EXISTS %I', 'order_numbers_' || OLD.id);
    RETURN NULL;
END $$;
CREATE TRIGGER vendors_order_numbers_made AFTER INSERT ON vendors
    FOR EACH ROW EXECUTE FUNCTION order_numbers_made();
CREATE TRIGGER vendors_order_numbers_dropped AFTER DELETE ON vendors
    FOR EACH ROW EXECUTE FUNCTION order_numbers_dropped();
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTIONS)
        # Each store carries on from its last number.
        op.execute("""
            DO $$
            DECLARE store record;
            BEGIN
                FOR store IN SELECT id, last_order_number FROM vendors LOOP
                    EXECUTE format('CREATE SEQUENCE %I START %s', 'order_numbers_' || store.id,
                                   store.last_order_number + 1);
                END LOOP;
            END $$
        """)
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.drop_column('last_order_number')


def downgrade():
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_order_number', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE vendors SET last_order_number = "
               "(SELECT coalesce(max(number), 0) FROM orders WHERE orders.vendor_id = vendors.id)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            DO $$
            DECLARE store record;
            BEGIN
                FOR store IN SELECT id FROM vendors LOOP
                    EXECUTE format('DROP SEQUENCE IF EXISTS %I', 'order_numbers_' || store.id);
                END LOOP;
            END $$
        """)
        op.execute("DROP TRIGGER vendors_order_numbers_made ON vendors; "
                   "DROP TRIGGER vendors_order_numbers_dropped ON vendors; "
                   "DROP FUNCTION order_numbers_made(); DROP FUNCTION order_numbers_dropped();")
