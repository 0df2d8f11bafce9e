-- Revenue per customer, returns excluded; every customer appears, with zero
-- when they have not ordered.
select
    c.customer_id,
    c.customer_name,
    c.country,
    count(o.order_id) filter (where not o.is_returned) as orders,
    coalesce(sum(o.amount) filter (where not o.is_returned), 0) as revenue
from {{ ref('stg_customers') }} c
left join {{ ref('stg_orders') }} o using (customer_id)
group by 1, 2, 3
