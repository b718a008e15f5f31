/** The request bodies of the HTTP benchmarks: the same bytes go to the baseline and to the real runtime. */

/** A ~300-byte JSON event. */
export function smallJson(): Buffer {
  return Buffer.from(
    JSON.stringify({
      event: "order_placed",
      event_id: "5f0c2a9e-8a1b-4a53-9c3e-2b7d1f6a9e01",
      occurred_at: "2026-11-29T10:15:30.123Z",
      customer: { id: "C-000123456", email_hash: "9a3f5e7c1b2d4f6a8c0e", zip: "00501" },
      order: { id: "O-2026-000987", total: 129.95, currency: "USD", items: 3 },
      channel: "web",
      consent: true,
    }),
  );
}

/** A ~1 KiB XML profile update (attributes, repeated elements, an entity, a zero-padded zip). */
export function xmlDocument(): Buffer {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<profile id="C-000123456" updated="2026-11-29T10:15:30Z">
  <name><given>Ada</given><family>Lovelace</family></name>
  <email type="primary">ada@example.com</email>
  <email type="work">ada.lovelace@example.org</email>
  <phone type="mobile">+1-555-0100</phone>
  <address type="home">
    <street>12 Analytical Engine Way</street>
    <city>Holtsville</city>
    <region>NY</region>
    <zip>00501</zip>
    <country>US</country>
  </address>
  <preferences>
    <channel opt-in="true">email</channel>
    <channel opt-in="false">sms</channel>
    <language>en-US</language>
  </preferences>
  <loyalty tier="gold" points="12840">Member since 2019 &amp; counting</loyalty>
  <segments><segment>high-value</segment><segment>newsletter</segment><segment>mobile-app</segment></segments>
  <notes>Prefers delivery before noon; gift wrap on birthdays.</notes>
  <source system="pos" store="0042">checkout</source>
</profile>
`;
  return Buffer.from(xml.padEnd(1024, " "));
}

/** A JSON object of about `bytes` bytes (an array of line items). */
export function largeJson(bytes = 200 * 1024): Buffer {
  const items: unknown[] = [];
  let size = 64;
  for (let i = 0; size < bytes - 200; i++) {
    const item = {
      sku: `SKU-${String(i).padStart(8, "0")}`,
      name: `Line item ${i} — sample product`,
      qty: (i % 5) + 1,
      price: Number(((i * 7.31) % 500).toFixed(2)),
      tags: ["bench", i % 2 === 0 ? "even" : "odd"],
    };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return Buffer.from(JSON.stringify({ event: "catalog_snapshot", store: "0042", items }));
}

/** An order record with `lines` order lines (the core-cpu payload; with one line, the lambda benchmark's record). */
export interface OrderLine {
  readonly sku: string;
  readonly name: string;
  readonly qty: number;
  readonly price: number;
  readonly zip: string;
}

export function orderRecord(lines: number): Record<string, unknown> {
  const items: OrderLine[] = [];
  for (let i = 0; i < lines; i += 1) {
    items.push({
      sku: `SKU-${String(100000 + i)}`,
      name: `Widget ${i % 97} ${["red", "green", "blue", "black"][i % 4]}`,
      qty: (i % 5) + 1,
      price: Math.round(((i * 37) % 10000) + 99) / 100,
      zip: `0${String(500 + (i % 400)).padStart(4, "0")}`,
    });
  }
  return {
    email: "justin.case@example.com",
    first_name: "Justin",
    last_name: "Case",
    loyalty_id: "00501",
    order_id: "A-1001",
    order_total: 125.5,
    channel: "web",
    items,
  };
}
