// Runs SQL statements in an in-memory DuckDB and prints the result of the last
// one as JSON lines, for the differential tests in tests/columnar/.
//
// Usage: node duckdb_query.mjs SQL [SQL...]
//
// Output: one header line {"columns": [...], "types": [...]} then one JSON
// array per row. Exactness matters more than prettiness:
//  - BIGINT/HUGEINT and other big integers are printed as bare JSON integers
//    (no rounding through a JS number);
//  - TIMESTAMP / TIMESTAMP WITH TIME ZONE become integer microseconds since the
//    epoch, DATE integer days;
//  - DOUBLE/FLOAT use the shortest round-trip form; NaN and infinities become
//    the strings "nan", "inf", "-inf".
// Exits 1 with the error on stderr when DuckDB fails.
import { DuckDBInstance } from '@duckdb/node-api';

function encode(value) {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint': return value.toString();
    case 'boolean': return value ? 'true' : 'false';
    case 'string': return JSON.stringify(value);
    case 'number':
      if (Number.isNaN(value)) return '"nan"';
      if (!Number.isFinite(value)) return value > 0 ? '"inf"' : '"-inf"';
      return JSON.stringify(value);
    default:
      if (typeof value.micros === 'bigint') return value.micros.toString();
      if (typeof value.days === 'number') return String(value.days);
      return JSON.stringify(String(value));
  }
}

const statements = process.argv.slice(2);
if (statements.length === 0) {
  console.error('usage: node duckdb_query.mjs SQL [SQL...]');
  process.exit(2);
}
try {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  let reader = null;
  for (const sql of statements) reader = await connection.runAndReadAll(sql);
  const lines = [JSON.stringify({
    columns: reader.columnNames(),
    types: reader.columnTypes().map((type) => type.toString()),
  })];
  for (const row of reader.getRows()) lines.push('[' + row.map(encode).join(',') + ']');
  process.stdout.write(lines.join('\n') + '\n');
} catch (error) {
  console.error(String(error && error.message ? error.message : error));
  process.exit(1);
}
