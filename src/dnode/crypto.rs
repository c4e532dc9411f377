//! Peer encryption as the original does it (dyn_crypto.c; peer spec §6):
//! the node's RSA key pair, a session key per connection, and AES-128-CBC
//! over payload segments tied to `mbuf_size`.
//!
//! ```text
//!  outbound conn: session key = 32 random bytes (new per connection)
//!   first encrypted frame: data = RSA-OAEP(SHA-1, MGF1-SHA-1)(session key),
//!                          data_len = modulus size (128 for 1024 bits)
//!   later frames:          data = "d", data_len = 1
//!   payload: plaintext ─cut every mbuf_size-64 bytes─► segments, each
//!            AES-128-CBC(key = IV = session[0..16]) + PKCS#7, concatenated
//!  receiver: ciphertext ─cut every mbuf_size-48 bytes─► units, each
//!            decrypted on its own ─► the datastore parser
//! ```
//!
//! The scheme is weak (one key pair for the whole cluster, IV = key, no
//! integrity check; spec Notes) and kept only so that C nodes can join;
//! everything here is built from the RustCrypto crates (`rsa`, `sha1`, `aes`,
//! `cbc`). Key material is never formatted: [`PeerKey`] and [`SessionKey`]
//! print as `<redacted>`, and the errors carry no key bytes.
//!
//! This module is pure: the framing of encrypted frames is in dnode/frame.rs
//! (receiving) and dnode/mod.rs (both directions).

use std::fmt;
use std::path::Path;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand_core::{OsRng, RngCore};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};

use crate::conf::{PoolConf, SecureOption};

/// Bytes of a session key (the original's `AES_KEYLEN`).
pub const SESSION_KEY_LEN: usize = 32;
/// Bytes of the AES-128 key, which is also the IV: the first bytes of the
/// session key.
pub const AES_KEY_LEN: usize = 16;
/// AES block size.
pub const BLOCK: usize = 16;
/// A chunk's room the original keeps for its own header: plaintext segments
/// hold `mbuf_size - 64` bytes (64-bit builds).
const PLAIN_RESERVE: usize = 64;
/// The receiver's ciphertext unit is `mbuf_size - 48` bytes: a full
/// plaintext segment plus one block of padding.
const CIPHER_RESERVE: usize = PLAIN_RESERVE - BLOCK;
/// Longest session-key block accepted: an 8192-bit key (the frame parser
/// caps the data field at the same size).
pub const MAX_KEY_BLOCK: usize = 1024;

/// Room for a frame header's fields around a session-key block.
const HEADER_ROOM: usize = 96;

const _: () = assert!(crate::mbuf::MBUF_MIN_SIZE > PLAIN_RESERVE + BLOCK);
const _: () = assert!(crate::mbuf::MBUF_MIN_SIZE >= 128 + HEADER_ROOM);
const _: () = assert!(MAX_KEY_BLOCK as u64 == crate::dnode::msg::MAX_DATA_LEN);

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Plaintext bytes per encrypted segment for chunks of `mbuf_size` bytes
/// (16320 by default).
pub fn plain_unit(mbuf_size: usize) -> usize {
    debug_assert!(mbuf_size > PLAIN_RESERVE + BLOCK);
    mbuf_size - PLAIN_RESERVE
}

/// Ciphertext bytes per unit the receiver decrypts on its own (16336 by
/// default): a full segment's ciphertext. The original reads `mbuf_size -
/// 48` bytes, which is the same number whenever `mbuf_size` is a multiple
/// of 16; for other sizes this keeps sender and receiver in step (the
/// original's own nodes do not agree there).
pub fn cipher_unit(mbuf_size: usize) -> usize {
    let n = cipher_len(plain_unit(mbuf_size));
    debug_assert!(!mbuf_size.is_multiple_of(BLOCK) || n == mbuf_size - CIPHER_RESERVE);
    n
}

/// Ciphertext length of one segment of `plain` bytes (PKCS#7 always pads,
/// so 16 bytes become 32).
pub fn cipher_len(plain: usize) -> usize {
    (plain / BLOCK + 1) * BLOCK
}

/// Ciphertext length of a payload of `plain` bytes cut into segments of
/// `unit` plaintext bytes (an empty payload is one empty segment).
pub fn payload_cipher_len(plain: u64, unit: usize) -> u64 {
    let unit = unit as u64;
    let full = plain / unit;
    let rest = plain % unit;
    let mut n = full * cipher_len(unit as usize) as u64;
    if rest > 0 || plain == 0 {
        n += cipher_len(rest as usize) as u64;
    }
    n
}

/// The segments a payload of `len` bytes is cut into for encryption:
/// (offset, length) pairs of at most `unit` bytes, the last one possibly
/// shorter; an empty payload is one empty segment.
pub fn segments(len: u64, unit: usize) -> impl Iterator<Item = (u64, usize)> {
    debug_assert!(unit > 0);
    let unit = unit as u64;
    let count = len.div_ceil(unit).max(1);
    (0..count).map(move |i| {
        let off = i * unit;
        (off, (len - off).min(unit) as usize)
    })
}

/// Whether a link to a peer is encrypted under `option` (peer spec §6.1):
/// `rack` covers every peer but those in this node's own rack,
/// `datacenter` those of other DCs, `all` everyone.
pub fn encrypts(option: SecureOption, same_dc: bool, same_rack: bool) -> bool {
    match option {
        SecureOption::None => false,
        SecureOption::Datacenter => !same_dc,
        SecureOption::Rack => !(same_dc && same_rack),
        SecureOption::All => true,
    }
}

/// A node's peer encryption: its option, its key (if it has one), and the
/// buffers the encrypting and decrypting share. Owned by the `Context`.
#[derive(Debug)]
pub struct PeerCrypto {
    /// `secure_server_option`: which outbound links encrypt.
    pub option: SecureOption,
    /// `pem_key_file`, for log lines.
    pub pem_key_file: String,
    /// The RSA key pair; without it no frame is encrypted and encrypted
    /// frames are refused.
    pub key: Option<PeerKey>,
    /// Room for one segment being encrypted.
    pub buf: Vec<u8>,
    /// The chunk ciphertext and decrypted units are copied into, shared
    /// like `Context::small` (small messages do not take a chunk each).
    pub out: Option<crate::mbuf::MbufId>,
}

impl PeerCrypto {
    /// A node's settings, without its key (see [`PeerKey::for_pool`]).
    pub fn new(pool: &PoolConf) -> PeerCrypto {
        PeerCrypto {
            option: pool.secure_server_option,
            pem_key_file: pool.pem_key_file.clone(),
            key: None,
            buf: Vec::new(),
            out: None,
        }
    }
}

/// Why key material or a frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The key file could not be read (the I/O error's text).
    Read(String),
    /// The file holds no RSA private key in PEM form (PKCS#1 or PKCS#8).
    Pem(String),
    /// The RSA block of a frame did not decrypt (wrong key, corrupt bytes).
    KeyBlock,
    /// The RSA block decrypted to fewer bytes than an AES key.
    ShortKey(usize),
    /// A ciphertext unit is not a whole number of blocks, or its padding is
    /// wrong (wrong session key, corrupt bytes, wrong `mbuf_size`).
    Padding,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::Read(e) => write!(f, "cannot read it: {e}"),
            CryptoError::Pem(e) => write!(f, "no RSA private key in PEM form: {e}"),
            CryptoError::KeyBlock => f.write_str("the session key block does not decrypt"),
            CryptoError::ShortKey(n) => write!(f, "the session key has {n} bytes"),
            CryptoError::Padding => f.write_str("bad ciphertext or padding"),
        }
    }
}

/// The node's RSA key pair (`pem_key_file`): the public half encrypts the
/// session keys this node sends, the private half decrypts those it
/// receives. All nodes of a cluster share it.
pub struct PeerKey {
    private: RsaPrivateKey,
    public: RsaPublicKey,
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({} bits, <redacted>)", self.public.size() * 8)
    }
}

impl PeerKey {
    /// Reads a PEM private key: PKCS#1 (`BEGIN RSA PRIVATE KEY`, as shipped)
    /// or PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<PeerKey, CryptoError> {
        let private = match RsaPrivateKey::from_pkcs1_pem(text) {
            Ok(k) => k,
            Err(e1) => RsaPrivateKey::from_pkcs8_pem(text)
                .map_err(|e8| CryptoError::Pem(format!("PKCS#1: {e1}; PKCS#8: {e8}")))?,
        };
        private
            .validate()
            .map_err(|e| CryptoError::Pem(e.to_string()))?;
        let public = private.to_public_key();
        if public.size() > MAX_KEY_BLOCK {
            return Err(CryptoError::Pem(format!(
                "a {}-bit key is larger than the {} bits a frame carries",
                public.size() * 8,
                MAX_KEY_BLOCK * 8
            )));
        }
        Ok(PeerKey { private, public })
    }

    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<PeerKey, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|e| CryptoError::Read(e.to_string()))?;
        PeerKey::from_pem(&text)
    }

    /// The key a node of `pool` uses: `Ok(Some)` when `pem_key_file` holds
    /// one; `Ok(None)` when it does not and `secure_server_option` is
    /// `none` (such a node decrypts nothing and refuses encrypted frames);
    /// `Err` when it does not and the option needs it.
    pub fn for_pool(pool: &PoolConf) -> Result<Option<PeerKey>, CryptoError> {
        match PeerKey::load(Path::new(&pool.pem_key_file)) {
            Ok(k) => Ok(Some(k)),
            Err(e) if pool.secure_server_option != SecureOption::None => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The key of a node of `pool` with chunks of `mbuf_size` bytes, as
    /// [`PeerKey::for_pool`], with the error a user reads: it names the key
    /// file, the option that needs it, and why it cannot be used (an
    /// unreadable file, no RSA key in it, or a key whose session-key block
    /// would not fit one chunk).
    pub fn for_node(pool: &PoolConf, mbuf_size: usize) -> Result<Option<PeerKey>, String> {
        let why = |e: &dyn fmt::Display| {
            format!(
                "pem_key_file '{}': {} (secure_server_option: {} needs it)",
                pool.pem_key_file,
                e,
                pool.secure_server_option.name()
            )
        };
        let key = PeerKey::for_pool(pool).map_err(|e| why(&e))?;
        if let Some(k) = &key {
            if pool.secure_server_option != SecureOption::None
                && k.block_len() + HEADER_ROOM > mbuf_size
            {
                return Err(why(&format_args!(
                    "a {}-bit key does not fit a frame header in mbuf_size {}",
                    k.block_len() * 8,
                    mbuf_size
                )));
            }
        }
        Ok(key)
    }

    /// Size of the RSA modulus in bytes: the data_len of a key-carrying frame.
    pub fn block_len(&self) -> usize {
        self.public.size()
    }

    /// Encrypts a session key for the first frame of a connection
    /// (RSA-OAEP, SHA-1 and MGF1-SHA-1, empty label; randomised).
    pub fn wrap(&self, session: &SessionKey) -> Vec<u8> {
        self.public
            .encrypt(&mut OsRng, Oaep::new::<sha1::Sha1>(), &session.0)
            .unwrap_or_else(|e| unreachable!("OAEP fits 32 bytes in any usable key: {e}"))
    }

    /// Decrypts the session key carried by a frame's data field. The first
    /// 32 bytes are kept (C nodes send 32; only the first 16 are used).
    pub fn unwrap(&self, block: &[u8]) -> Result<SessionKey, CryptoError> {
        let mut plain = self
            .private
            .decrypt_blinded(&mut OsRng, Oaep::new::<sha1::Sha1>(), block)
            .map_err(|_| CryptoError::KeyBlock)?;
        if plain.len() < AES_KEY_LEN {
            return Err(CryptoError::ShortKey(plain.len()));
        }
        let mut key = [0u8; SESSION_KEY_LEN];
        let n = plain.len().min(SESSION_KEY_LEN);
        key[..n].copy_from_slice(&plain[..n]);
        plain.fill(0);
        Ok(SessionKey(key))
    }
}

/// The session key of one connection. AES uses its first 16 bytes as key
/// and IV.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; SESSION_KEY_LEN]);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

impl SessionKey {
    /// A fresh random key (one per outbound connection).
    pub fn random() -> SessionKey {
        let mut k = [0u8; SESSION_KEY_LEN];
        OsRng.fill_bytes(&mut k);
        SessionKey(k)
    }

    /// A key with the given bytes.
    pub fn from_bytes(bytes: [u8; SESSION_KEY_LEN]) -> SessionKey {
        SessionKey(bytes)
    }

    fn aes(&self) -> &[u8; AES_KEY_LEN] {
        self.0[..AES_KEY_LEN]
            .try_into()
            .expect("a session key holds an AES key")
    }

    /// Encrypts the first `plain` bytes of `buf` in place as one segment;
    /// `buf` has room for the padding ([`cipher_len`]). Returns the
    /// ciphertext length.
    pub fn encrypt_segment(&self, buf: &mut [u8], plain: usize) -> usize {
        debug_assert!(buf.len() >= cipher_len(plain));
        let k = self.aes();
        let n = Aes128CbcEnc::new(k.into(), k.into())
            .encrypt_padded_mut::<Pkcs7>(buf, plain)
            .unwrap_or_else(|_| unreachable!("the buffer has room for the padding"))
            .len();
        debug_assert_eq!(n, cipher_len(plain));
        n
    }

    /// Decrypts one ciphertext unit in place; returns the plaintext length
    /// (the plaintext is `buf[..n]`).
    pub fn decrypt_unit(&self, buf: &mut [u8]) -> Result<usize, CryptoError> {
        if buf.is_empty() || !buf.len().is_multiple_of(BLOCK) {
            return Err(CryptoError::Padding);
        }
        let k = self.aes();
        Aes128CbcDec::new(k.into(), k.into())
            .decrypt_padded_mut::<Pkcs7>(buf)
            .map(|p| p.len())
            .map_err(|_| CryptoError::Padding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key the original ships (conf/dynomite.pem).
    const PEM: &str = include_str!("../../conf/dynomite.pem");

    /// Spec §9.5: session key 00 01 .. 1f.
    fn spec_key() -> SessionKey {
        let mut k = [0u8; SESSION_KEY_LEN];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        SessionKey::from_bytes(k)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn encrypt(key: &SessionKey, plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        buf.resize(cipher_len(plain.len()), 0);
        let n = key.encrypt_segment(&mut buf, plain.len());
        buf.truncate(n);
        buf
    }

    fn decrypt(key: &SessionKey, cipher: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut buf = cipher.to_vec();
        let n = key.decrypt_unit(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    #[test]
    fn spec_frames_decrypt_bit_exactly_and_encrypt_back() {
        let key = spec_key();
        let cases: [(&[u8], &str); 2] = [
            (
                b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n",
                "de40c32b0cdbfdd91147e6c16607a599 975767f66d25edea3d4d1806ab97d0de",
            ),
            (b"$3\r\nbar\r\n", "4cf0424acc44be02c000b31dcab3b4bf"),
        ];
        for (plain, cipher) in cases {
            let cipher = hex(cipher);
            assert_eq!(decrypt(&key, &cipher).unwrap(), plain);
            assert_eq!(encrypt(&key, plain), cipher);
        }
    }

    #[test]
    fn unit_sizes_follow_mbuf_size() {
        assert_eq!(plain_unit(16384), 16320);
        assert_eq!(cipher_unit(16384), 16336);
        assert_eq!(cipher_len(16320), 16336);
        assert_eq!(cipher_len(0), 16);
        assert_eq!(cipher_len(15), 16);
        assert_eq!(cipher_len(16), 32);
        // The spec's capture: a SET of a 40000-byte value (40032 bytes of
        // RESP) gave payload_len 40080, units of 16336, 16336 and 7408.
        assert_eq!(payload_cipher_len(40032, 16320), 40080);
        assert_eq!(payload_cipher_len(40032 - 16320 * 2, 16320), 7408);
        assert_eq!(payload_cipher_len(16320, 16320), 16336);
        assert_eq!(payload_cipher_len(16321, 16320), 16336 + 16);
        assert_eq!(payload_cipher_len(0, 16320), 16);
        for m in [512, 1024, 16384, 512_000] {
            assert_eq!(cipher_unit(m), m - 48);
        }
    }

    #[test]
    fn segments_cut_at_the_unit() {
        let cut = |len, unit| segments(len, unit).collect::<Vec<_>>();
        assert_eq!(cut(0, 16320), vec![(0, 0)]);
        assert_eq!(cut(22, 16320), vec![(0, 22)]);
        assert_eq!(cut(16320, 16320), vec![(0, 16320)]);
        assert_eq!(
            cut(40032, 16320),
            vec![(0, 16320), (16320, 16320), (32640, 7392)]
        );
        let total: u64 = cut(40032, 16320)
            .iter()
            .map(|&(_, n)| cipher_len(n) as u64)
            .sum();
        assert_eq!(total, 40080);
        assert_eq!(total, payload_cipher_len(40032, 16320));
    }

    #[test]
    fn which_links_encrypt() {
        use SecureOption::*;
        // (option, same dc, same rack) -> encrypted
        let table = [
            (None, false, false, false),
            (None, true, true, false),
            (Datacenter, true, true, false),
            (Datacenter, true, false, false),
            (Datacenter, false, false, true),
            (Rack, true, true, false),
            (Rack, true, false, true),
            (Rack, false, false, true),
            (All, true, true, true),
            (All, false, false, true),
        ];
        for (o, dc, rack, want) in table {
            assert_eq!(encrypts(o, dc, rack), want, "{o:?} dc {dc} rack {rack}");
        }
    }

    #[test]
    fn bad_ciphertext_is_refused() {
        let key = spec_key();
        let good = encrypt(&key, b"$3\r\nbar\r\n");
        // Not a whole number of blocks, empty.
        assert_eq!(decrypt(&key, &good[..15]), Err(CryptoError::Padding));
        assert_eq!(decrypt(&key, &[]), Err(CryptoError::Padding));
        // Wrong key: the padding does not check.
        let other = SessionKey::from_bytes([7; SESSION_KEY_LEN]);
        assert_eq!(decrypt(&other, &good), Err(CryptoError::Padding));
        // A flipped bit in the last block breaks the padding.
        let mut bad = good.clone();
        bad[15] ^= 0x01;
        assert_eq!(decrypt(&key, &bad), Err(CryptoError::Padding));
    }

    #[test]
    fn session_keys_cross_the_shipped_rsa_key() {
        let pk = PeerKey::from_pem(PEM).expect("the shipped key");
        assert_eq!(pk.block_len(), 128);
        let s = SessionKey::random();
        let block = pk.wrap(&s);
        assert_eq!(block.len(), 128);
        assert_ne!(pk.wrap(&s), block, "OAEP is randomised");
        assert_eq!(pk.unwrap(&block).unwrap(), s);
        let mut bad = block.clone();
        bad[40] ^= 0x80;
        assert_eq!(pk.unwrap(&bad), Err(CryptoError::KeyBlock));
        assert_eq!(pk.unwrap(&block[..127]), Err(CryptoError::KeyBlock));
        assert_eq!(pk.unwrap(b"d"), Err(CryptoError::KeyBlock));
    }

    #[test]
    fn pkcs8_files_hold_the_same_key() {
        // The shipped key converted with `openssl pkcs8 -topk8 -nocrypt`
        // (OpenSSL 3's `genrsa` writes PKCS#8 unless told otherwise).
        let pkcs1 = PeerKey::from_pem(PEM).unwrap();
        let pkcs8 = PeerKey::from_pem(include_str!("../../tests/data/dynomite-pkcs8.pem")).unwrap();
        let s = SessionKey::random();
        assert_eq!(pkcs8.unwrap(&pkcs1.wrap(&s)).unwrap(), s);
        assert_eq!(pkcs1.unwrap(&pkcs8.wrap(&s)).unwrap(), s);
    }

    #[test]
    fn keys_never_print() {
        let pk = PeerKey::from_pem(PEM).unwrap();
        assert_eq!(format!("{pk:?}"), "PeerKey(1024 bits, <redacted>)");
        assert_eq!(format!("{:?}", spec_key()), "SessionKey(<redacted>)");
    }

    #[test]
    fn bad_pem_files_are_errors() {
        assert!(matches!(PeerKey::from_pem(""), Err(CryptoError::Pem(_))));
        let cut = &PEM[..PEM.len() / 2];
        assert!(matches!(PeerKey::from_pem(cut), Err(CryptoError::Pem(_))));
        let e = PeerKey::load(Path::new("/nonexistent/dynomite.pem")).unwrap_err();
        assert!(matches!(e, CryptoError::Read(_)), "{e:?}");
    }
}
