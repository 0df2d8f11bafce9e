"""A unit test of one task's logic: the example's extract step, without
Airflow running anything."""

from elt_shop_orders import CUSTOMERS, ORDERS_PER_DAY, PRODUCTS, orders_for_day


def test_a_day_of_orders_is_the_same_on_every_run():
    assert orders_for_day("2026-12-01") == orders_for_day("2026-12-01")
    assert orders_for_day("2026-12-01") != orders_for_day("2026-12-02")


def test_orders_are_well_formed():
    orders = orders_for_day("2026-12-01")
    assert len(orders) == ORDERS_PER_DAY
    assert len({o["order_id"] for o in orders}) == ORDERS_PER_DAY
    for o in orders:
        assert o["order_date"] == "2026-12-01"
        assert 1 <= o["customer_id"] <= CUSTOMERS
        assert o["amount_cents"] == PRODUCTS[o["product"]] * o["quantity"]
