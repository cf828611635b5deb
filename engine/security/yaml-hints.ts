/**
 * Explanations for YAML scalars that load as another type than the author meant. The `yaml`
 * package follows YAML 1.2 unless a document starts with `%YAML 1.1`, so the surprises differ by
 * version: in 1.2 `0777` is the decimal 777 and `14.10` the number 14.1, while `yes`, `on`
 * and `12:30` stay text. Under `%YAML 1.1` those become booleans and sexagesimal numbers.
 */

/**
 * Returns a hint to append to a type error, or '' when the value shows no known surprise.
 * `source` is the scalar as written in the file (quotes included), `value` what it loaded as,
 * and `expected` the JSON Schema type name (string, boolean, number, integer).
 */
export function explainYamlScalar(source: string | undefined, value: unknown, expected: string): string {
  const written = source?.trim() ?? '';
  if (written.startsWith('"') || written.startsWith("'")) return '';
  const quoted = JSON.stringify(written);

  if (expected === 'string') {
    if (typeof value === 'number') return numberHint(written, value, quoted);
    if (typeof value === 'boolean') {
      return `; YAML reads unquoted ${written} as the boolean ${value}, so quote it if you meant text: ${quoted}`;
    }
    if (value === null) {
      const writtenAs = written === '' ? 'an empty value' : written;
      return `; YAML reads ${writtenAs} as null, so fill in the value or quote it`;
    }
    return '';
  }

  if (expected === 'boolean' && typeof value === 'string') {
    if (/^(y|yes|n|no|on|off)$/i.test(written)) {
      const meant = /^(y|yes|on)$/i.test(written);
      return `; YAML 1.2 reads ${written} as the text ${quoted}, not a boolean (YAML 1.1 did), so write ${meant}`;
    }
    return '';
  }

  if ((expected === 'number' || expected === 'integer') && typeof value === 'string') {
    if (/^[-+]?\d+(:[0-5]?\d)+(\.\d*)?$/.test(written)) {
      return `; YAML 1.2 reads ${written} as text, not a base-60 number or time (YAML 1.1 did), so write one plain number`;
    }
    if (/^[-+]?\d+(_\d+)+$/.test(written)) {
      return `; YAML 1.2 reads ${written} as text because of the underscores, so write ${written.replace(/_/g, '')}`;
    }
  }
  return '';
}

function numberHint(written: string, value: number, quoted: string): string {
  const tail = `, so quote it if you meant text: ${quoted}`;
  if (/^[-+]?0\d+$/.test(written)) {
    if (value === parseInt(written, 8)) return `; YAML 1.1 reads ${written} as the octal number ${value}${tail}`;
    return `; YAML reads ${written} as the number ${value}, dropping the leading zero${tail}`;
  }
  if (/^0o[0-7]+$/i.test(written)) return `; YAML reads ${written} as the octal number ${value}${tail}`;
  if (/^0x[0-9a-f]+$/i.test(written)) return `; YAML reads ${written} as the hexadecimal number ${value}${tail}`;
  if (/^[-+]?\d+(:[0-5]?\d)+(\.\d*)?$/.test(written)) {
    return `; YAML 1.1 reads ${written} as the base-60 number ${value}${tail}`;
  }
  if (/^[-+]?(\.inf|\.nan)$/i.test(written)) return `; YAML reads ${written} as a special number${tail}`;
  if (String(value) !== written) return `; YAML reads ${written} as the number ${value}${tail}`;
  return `; YAML reads unquoted ${written} as a number${tail}`;
}
