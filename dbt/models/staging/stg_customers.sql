select
    customer_id,
    customer_name,
    country,
    cast(signup_date as date) as signup_date
from {{ ref('customers') }}
