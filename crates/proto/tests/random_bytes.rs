//! Every decoder, fed random bytes, returns a value or an error: never a
//! panic, never an allocation beyond the input (lengths are checked against
//! what is left before anything is allocated).

use glusterfs_proto::fops::*;
use glusterfs_proto::mgmt::{
    DumpRsp, GetspecReq, GetspecRsp, PortByBrickRsp, SetvolumeReq, SetvolumeRsp,
};
use glusterfs_proto::rpc_msg::decode_incoming;
use glusterfs_proto::{GfxDict, Iatt, OldDict, Xdr};
use proptest::prelude::*;

fn all(buf: &[u8]) {
    macro_rules! try_all {
        ($($t:ty),* $(,)?) => { $( let _ = <$t>::from_xdr(buf); )* };
    }
    try_all!(
        CommonRsp,
        IattRsp,
        TwoIattRsp,
        ThreeIattRsp,
        DictRsp,
        ReadlinkRsp,
        RenameRsp,
        OpenRsp,
        ReadRsp,
        StatfsRsp,
        CreateRsp,
        LkRsp,
        ReaddirRsp,
        ReaddirpRsp,
        RchecksumRsp,
        SeekRsp,
        LeaseRsp,
        GetactivelkRsp,
        LookupReq,
        WriteReq,
        CreateReq,
        SetxattrReq,
        InodelkReq,
        EntrylkReq,
        CopyFileRangeReq,
        ReaddirpReq,
        GfxDict,
        Iatt,
        DumpRsp,
        GetspecRsp,
        PortByBrickRsp,
        SetvolumeRsp,
        GetspecReq,
        SetvolumeReq,
    );
    let _ = OldDict::unserialize(buf);
    let _ = decode_incoming(buf);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        all(&buf);
    }

    /// Plausible prefixes (small length words, "more entries follow"
    /// markers) reach deeper into the decoders than uniform noise.
    #[test]
    fn structured_noise(words in proptest::collection::vec(prop_oneof![Just(0u32), Just(1), Just(0xffff_ffff), 0u32..64, any::<u32>()], 0..150)) {
        let buf: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        all(&buf);
    }
}

#[test]
fn huge_lengths_do_not_allocate() {
    // A dict claiming 2^32-1 pairs, an entry chain claiming a 4 GiB name.
    let mut buf = vec![0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
    buf.extend_from_slice(&[0; 8]);
    assert!(GfxDict::from_xdr(&buf).is_err());
    let mut chain = vec![0, 0, 0, 0, 0, 0, 0, 0]; // op_ret, op_errno
    chain.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]); // NULL xdata
    chain.extend_from_slice(&[0, 0, 0, 1]); // an entry follows
    chain.extend_from_slice(&[0; 20]);
    chain.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // name length
    assert!(ReaddirpRsp::from_xdr(&chain).is_err());
}
