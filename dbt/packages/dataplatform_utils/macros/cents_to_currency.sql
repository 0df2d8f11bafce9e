{% macro cents_to_currency(column, scale=2) -%}
    round(({{ column }})::numeric / 100, {{ scale }})
{%- endmacro %}
