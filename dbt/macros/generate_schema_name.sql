{#- Where every model, seed and snapshot lands. With the spec's default
    DBT_SCHEMA (public) the custom schemas keep their names (staging, marts,
    reference); any other target schema prefixes them, dbt's own
    <target>_<custom> convention, so two targets (two people, two CI runs
    with their own DBT_SCHEMA or schema suffix) never share a table. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if not custom_schema_name -%}
        {{ target.schema }}
    {%- elif target.schema == 'public' -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
