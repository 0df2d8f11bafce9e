-- Typed, renamed orders; amounts in currency units via the shared macro.
select
    order_id,
    customer_id,
    product,
    quantity,
    {{ cents_to_currency('amount_cents') }} as amount,
    status,
    status = 'returned' as is_returned,
    ordered_at,
    order_date
from {{ source('raw', 'orders') }}
