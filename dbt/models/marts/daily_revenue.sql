-- One row per day with orders: order count, returns and revenue.
select
    order_date,
    count(*) as orders,
    count(*) filter (where is_returned) as returned_orders,
    sum(amount) filter (where not is_returned) as revenue
from {{ ref('stg_orders') }}
group by 1
