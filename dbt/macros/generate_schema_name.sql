{#- Custom schemas are used as they are (staging, marts, reference) instead of
    being prefixed with the target schema, so the layout reads the same in
    every environment. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
