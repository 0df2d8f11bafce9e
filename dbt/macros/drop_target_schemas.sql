{#- `dbt run-operation drop_target_schemas`: drops the target schema and every
    schema derived from it (<target>_staging, ...), e.g. after a CI run with
    its own schema suffix. The spec's default schema is never dropped. -#}
{% macro drop_target_schemas() %}
    {% if target.schema == 'public' %}
        {{ exceptions.raise_compiler_error("drop_target_schemas: refusing to drop the default schema public and its schemas") }}
    {% endif %}
    {% set found %}
        select schema_name from information_schema.schemata
        where schema_name = '{{ target.schema }}' or schema_name like '{{ target.schema }}\_%'
    {% endset %}
    {% for schema in run_query(found).columns[0].values() %}
        {% do adapter.drop_schema(api.Relation.create(database=target.database, schema=schema)) %}
        {{ log("dropped schema " ~ schema, info=True) }}
    {% endfor %}
{% endmacro %}
