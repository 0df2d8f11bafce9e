-- The two marts must agree: total revenue per customer equals total revenue
-- per day. Returns the mismatch when they differ.
with by_customer as (select coalesce(sum(revenue), 0) as total from {{ ref('customer_revenue') }}),
     by_day as (select coalesce(sum(revenue), 0) as total from {{ ref('daily_revenue') }})
select by_customer.total as customer_total, by_day.total as daily_total
from by_customer, by_day
where by_customer.total <> by_day.total
