//! `crc16` (hashkit/dyn_crc16.c): table-driven CRC-16/XMODEM (polynomial
//! 0x1021, initial value 0, no reflection, no final xor).
//!
//! Quirk kept from the original: the running value lives in a 32-bit word and
//! is never masked to 16 bits, so the bits shifted out at the top stay there
//! and results are up to 32 bits wide. Only the low 16 bits are the real
//! CRC-16/XMODEM, because the table index only looks at bits 8..16.

/// CRC-16/XMODEM polynomial.
const POLY: u16 = 0x1021;

/// The usual MSB-first lookup table for `POLY`.
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Hashes `key`.
pub fn hash_crc16(key: &[u8]) -> u32 {
    let mut crc: u32 = 0;
    for &b in key {
        let index = ((crc >> 8) ^ u32::from(b)) & 0xff;
        crc = (crc << 8) ^ u32::from(TABLE[index as usize]);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::{hash_crc16, TABLE};

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 4] = [
            (b"a", 31879),
            (b"foo", 205303702),
            (b"hello", 1800389474),
            (b"user1000", 2787265907),
        ];
        for (key, want) in cases {
            assert_eq!(hash_crc16(key), want, "key {:?}", key);
        }
    }

    #[test]
    fn low_bits_are_crc16_xmodem() {
        // Published check value of CRC-16/XMODEM.
        assert_eq!(hash_crc16(b"123456789") & 0xffff, 0x31c3);
        assert_eq!(TABLE[1], 0x1021);
        assert_eq!(TABLE[255], 0x1ef0);
    }

    #[test]
    fn empty_key() {
        assert_eq!(hash_crc16(b""), 0);
    }
}
