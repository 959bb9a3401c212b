/** A BIND 9 (Debian's `named`) configuration serving zone files `<zone>.zone` authoritatively. */
export function bindConfig(zoneDir: string, port: number, zones: string[]): string {
  return [
    'options {',
    `  directory "${zoneDir}";`,
    `  pid-file "${zoneDir}/named.pid";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    '  listen-on-v6 { none; };',
    '  recursion no;',
    '  notify no;',
    '  dnssec-validation no;',
    '};',
    // No rndc control channel: nothing here needs it, and it would want a key file.
    'controls { };',
    'logging { category default { null; }; category lame-servers { null; }; };',
    ...zones.map((zone) => `zone "${zone}" { type primary; file "${zoneDir}/${zone}.zone"; };`),
  ].join('\n');
}
