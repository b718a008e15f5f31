/** DER ECDSA-Sig-Value ↔ JOSE r‖s: known vectors, strict refusal of malformed DER, and real P-256 signatures. */
import { generateKeyPairSync, sign, verify } from "node:crypto";
import fc from "fast-check";
import {
  derToJoseSignature,
  joseToDerSignature,
  SignatureEncodingError,
} from "../../lambda/adapters/ecdsa-signature.js";
import { thrownBy } from "../helpers/thrown.js";

const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ""), "hex"));
const hexOf = (data: Uint8Array) => Buffer.from(data).toString("hex");

/** A 32-byte value: `first` then `fill` bytes. */
const word = (first: string, fill = "11") => first + fill.repeat(32 - first.length / 2);

/** DER of SEQUENCE { INTEGER r, INTEGER s } from the integers' content bytes (hex). */
function der(rHex: string, sHex: string): Uint8Array {
  const integer = (h: string) => `02${(h.length / 2).toString(16).padStart(2, "0")}${h}`;
  const content = integer(rHex) + integer(sHex);
  return bytes(`30${(content.length / 2).toString(16).padStart(2, "0")}${content}`);
}

function refusal(input: Uint8Array): string {
  return thrownBy(() => derToJoseSignature(input), SignatureEncodingError).message;
}

describe("derToJoseSignature", () => {
  it("converts r and s without a sign byte into 64 bytes r‖s", () => {
    const r = word("7f");
    const s = word("01");
    expect(hexOf(derToJoseSignature(der(r, s)))).toBe(r + s);
  });

  it("drops the 0x00 sign byte of an r or s whose high bit is set (a 33-byte DER integer)", () => {
    const r = word("80", "ff");
    const s = word("c3", "22");
    const input = der(`00${r}`, `00${s}`);
    expect(input.length).toBe(2 + 2 * 35);
    expect(hexOf(derToJoseSignature(input))).toBe(r + s);
  });

  it("left-pads an r with leading zero bytes (a short DER integer) to 32 bytes", () => {
    const shortR = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"; // 29 bytes
    const s = word("42");
    expect(hexOf(derToJoseSignature(der(shortR, s)))).toBe(`000000${shortR}${s}`);
  });

  it("pads a one-byte s", () => {
    const r = word("33");
    expect(hexOf(derToJoseSignature(der(r, "05")))).toBe(`${r}${"00".repeat(31)}05`);
  });

  it("supports other sizes, e.g. 48 bytes for P-384", () => {
    const r = "7a".repeat(48);
    const s = `00${"99".repeat(48)}`;
    expect(hexOf(derToJoseSignature(der(r, s), 48))).toBe(r + "99".repeat(48));
  });

  it.each([
    ["an empty input", "", "too short"],
    ["a wrong outer tag", `31${hexOf(der(word("01"), word("02"))).slice(2)}`, "expected a SEQUENCE (0x30)"],
    ["a SEQUENCE longer than the input", `3046${hexOf(der(word("01"), word("02"))).slice(4)}`, "claims 70"],
    ["trailing bytes", `${hexOf(der(word("01"), word("02")))}00`, "1 trailing byte(s)"],
    ["a wrong tag for r", `3044 0320${word("01")} 0220${word("02")}`, "expected INTEGER r (0x02)"],
    ["a wrong tag for s", `3044 0220${word("01")} 0420${word("02")}`, "expected INTEGER s (0x02)"],
    ["a missing s", `3022 0220${word("01")}`, "ends before INTEGER s"],
    ["an extra element", `3047 0220${word("01")} 0220${word("02")} 020101`, "after the two INTEGERs"],
    [
      "an r longer than the SEQUENCE",
      `3022 0230${word("01")}`,
      "INTEGER r claims 48 bytes but only 32 remain",
    ],
    ["an empty INTEGER", `3024 0200 0220${word("02")}`, "INTEGER r is empty"],
    ["a negative r", der(word("80"), word("02")), "INTEGER r is negative"],
    ["a negative s", der(word("01"), word("ff")), "INTEGER s is negative"],
    ["a superfluous leading zero", der(`00${word("01")}`, word("02")), "superfluous leading zero"],
    ["a zero r", der("00", word("02")), "INTEGER r is zero"],
    ["an r of 33 significant bytes", der(`01${word("01")}`, word("02")), "33 bytes; at most 32"],
    ["a long-form length for a short SEQUENCE", `308144 0220${word("01")} 0220${word("02")}`, "non-minimal"],
    ["an unsupported length form", `3082004400`, "unsupported length encoding 0x82"],
  ])("refuses %s with a clear error", (_name, input, message) => {
    const data = typeof input === "string" ? bytes(input) : input;
    expect(refusal(data)).toContain(message);
    expect(refusal(data)).toMatch(/^DER ECDSA signature: /);
  });
});

describe("joseToDerSignature", () => {
  it("is the inverse for the known vectors", () => {
    for (const [r, s] of [
      [word("7f"), word("01")],
      [word("80", "ff"), word("c3", "22")],
      [`000000${"ab".repeat(29)}`, word("42")],
    ] as const) {
      const jose = bytes(r + s);
      expect(hexOf(derToJoseSignature(joseToDerSignature(jose)))).toBe(r + s);
    }
  });

  it("refuses a signature of the wrong length or with a zero half", () => {
    expect(thrownBy(() => joseToDerSignature(new Uint8Array(63)), SignatureEncodingError).message).toContain(
      "expected 64 bytes",
    );
    const zeroS = new Uint8Array(64).fill(1, 0, 32);
    expect(thrownBy(() => joseToDerSignature(zeroS), SignatureEncodingError).message).toContain("s is zero");
  });
});

describe("real P-256 signatures", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });

  it("turns Node's DER signature into an IEEE P1363 signature that verifies, and back into the same DER", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 512 }), (message) => {
        const derSignature = sign("sha256", message, { key: privateKey, dsaEncoding: "der" });
        const jose = derToJoseSignature(derSignature);
        expect(jose).toHaveLength(64);
        expect(verify("sha256", message, { key: publicKey, dsaEncoding: "ieee-p1363" }, jose)).toBe(true);
        expect(hexOf(joseToDerSignature(jose))).toBe(hexOf(derSignature));
      }),
      { numRuns: 300 },
    );
  });
});
