-- Typed, renamed orders; amounts in currency units via the local package's macro.
select
    order_id,
    customer_id,
    product,
    quantity,
    {{ dataplatform_utils.cents_to_currency('amount_cents') }} as amount,
    status,
    status = 'returned' as is_returned,
    ordered_at,
    order_date
from {{ source('raw', 'orders') }}
