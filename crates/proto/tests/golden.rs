//! Golden decoder tests: real GlusterFS 10.3 records (fixtures/, copied
//! from the project's shared wire captures). Every reply must decode to the
//! last byte of its record, and the decoded values must match the
//! transcripts.

use glusterfs_proto::dict::DictValue;
use glusterfs_proto::fops::*;
use glusterfs_proto::mgmt::{
    DumpReq, DumpRsp, GetspecReq, GetspecRsp, PortByBrickReq, PortByBrickRsp, SetvolumeReq,
    SetvolumeRsp,
};
use glusterfs_proto::rpc_msg::{decode_incoming, prog, AcceptError, Incoming, ReplyStatus};
use glusterfs_proto::{Gfid, Xdr};
use std::collections::BTreeMap;

fn load(name: &str) -> BTreeMap<String, Vec<u8>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let map: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    map.into_iter()
        .map(|(k, v)| (k, hex::decode(v).unwrap()))
        .collect()
}

/// Strips the record mark (one last fragment) and returns the message.
fn message(rec: &[u8]) -> &[u8] {
    let mark = u32::from_be_bytes(rec[..4].try_into().unwrap());
    assert_eq!(mark & 0x8000_0000, 0x8000_0000, "single last fragment");
    assert_eq!((mark & 0x7fff_ffff) as usize, rec.len() - 4);
    &rec[4..]
}

fn call_header(rec: &[u8]) -> (u32, u32, &[u8]) {
    let msg = message(rec);
    match decode_incoming(msg).unwrap() {
        Incoming::Call {
            program,
            procedure,
            body,
            ..
        } => (program, procedure, &msg[body..]),
        other => panic!("expected a call, got {other:?}"),
    }
}

fn reply_body(rec: &[u8]) -> (ReplyStatus, &[u8]) {
    let msg = message(rec);
    match decode_incoming(msg).unwrap() {
        Incoming::Reply { status, body, .. } => (status, &msg[body..]),
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// Decodes a fop call's arguments and its reply by procedure number;
/// returns (op_ret, op_errno).
fn decode_fop(procedure: u32, call: &[u8], reply: &[u8]) -> (i32, i32) {
    fn one<Q: FopRequest>(call: &[u8], reply: &[u8]) -> (i32, i32) {
        let mut d = xdr::Decoder::new(call);
        Q::decode(&mut d).unwrap();
        if Q::FOP != Fop::Write {
            d.finish().unwrap();
        }
        let mut d = xdr::Decoder::new(reply);
        let r = Q::Reply::decode(&mut d).unwrap();
        if Q::FOP == Fop::Read {
            assert_eq!(d.rest().len() as i32, r.op_ret().max(0), "READ payload");
        } else {
            d.finish().unwrap();
        }
        (r.op_ret(), r.op_errno())
    }
    match procedure {
        1 => one::<StatReq>(call, reply),
        2 => one::<ReadlinkReq>(call, reply),
        3 => one::<MknodReq>(call, reply),
        4 => one::<MkdirReq>(call, reply),
        5 => one::<UnlinkReq>(call, reply),
        6 => one::<RmdirReq>(call, reply),
        7 => one::<SymlinkReq>(call, reply),
        8 => one::<RenameReq>(call, reply),
        9 => one::<LinkReq>(call, reply),
        10 => one::<TruncateReq>(call, reply),
        11 => one::<OpenReq>(call, reply),
        12 => one::<ReadReq>(call, reply),
        13 => one::<WriteReq>(call, reply),
        14 => one::<StatfsReq>(call, reply),
        15 => one::<FlushReq>(call, reply),
        16 => one::<FsyncReq>(call, reply),
        17 => one::<SetxattrReq>(call, reply),
        18 => one::<GetxattrReq>(call, reply),
        19 => one::<RemovexattrReq>(call, reply),
        20 => one::<OpendirReq>(call, reply),
        21 => one::<FsyncdirReq>(call, reply),
        22 => one::<AccessReq>(call, reply),
        23 => one::<CreateReq>(call, reply),
        24 => one::<FtruncateReq>(call, reply),
        25 => one::<FstatReq>(call, reply),
        26 => one::<LkReq>(call, reply),
        27 => one::<LookupReq>(call, reply),
        28 => one::<ReaddirReq>(call, reply),
        29 => one::<InodelkReq>(call, reply),
        30 => one::<FinodelkReq>(call, reply),
        31 => one::<EntrylkReq>(call, reply),
        32 => one::<FentrylkReq>(call, reply),
        33 => one::<XattropReq>(call, reply),
        34 => one::<FxattropReq>(call, reply),
        35 => one::<FgetxattrReq>(call, reply),
        36 => one::<FsetxattrReq>(call, reply),
        37 => one::<RchecksumReq>(call, reply),
        38 => one::<SetattrReq>(call, reply),
        39 => one::<FsetattrReq>(call, reply),
        40 => one::<ReaddirpReq>(call, reply),
        41 => one::<ReleaseReq>(call, reply),
        42 => one::<ReleasedirReq>(call, reply),
        43 => one::<FremovexattrReq>(call, reply),
        44 => one::<FallocateReq>(call, reply),
        45 => one::<DiscardReq>(call, reply),
        46 => one::<ZerofillReq>(call, reply),
        47 => one::<IpcReq>(call, reply),
        48 => one::<SeekReq>(call, reply),
        50 => one::<LeaseReq>(call, reply),
        51 => one::<GetactivelkReq>(call, reply),
        56 => one::<CopyFileRangeReq>(call, reply),
        p => panic!("no decoder for procedure {p}"),
    }
}

#[test]
fn every_fop_record_decodes_exactly() {
    for file in [
        "fops.json",
        "vsingle.json",
        "vdist.json",
        "vrep3.json",
        "vvirt.json",
        "vec.json",
    ] {
        let recs = load(file);
        let mut checked = 0;
        for (key, call_rec) in &recs {
            let Some(label) = key.strip_suffix(".call") else {
                continue;
            };
            let (program, procedure, args) = call_header(call_rec);
            let Some(reply_rec) = recs.get(&format!("{label}.reply")) else {
                continue; // callbacks have no reply
            };
            let (status, body) = reply_body(reply_rec);
            if status != ReplyStatus::Success {
                continue; // checked in rpc_errors
            }
            if program == prog::FOP {
                let (ret, errno) = decode_fop(procedure, args, body);
                // Labels name the errno of failed replies.
                if ret < 0 {
                    assert!(errno > 0, "{file} {label}: op_errno {errno}");
                }
            } else {
                decode_mgmt(program, procedure, args, body);
            }
            checked += 1;
        }
        assert!(checked >= 20, "{file}: only {checked} pairs checked");
    }
}

fn decode_mgmt(program: u32, procedure: u32, args: &[u8], body: &[u8]) {
    match (program, procedure) {
        (prog::DUMP, 1) => {
            DumpReq::from_xdr(args).unwrap();
            DumpRsp::from_xdr(body).unwrap();
        }
        (prog::DUMP, 2) => {
            glusterfs_proto::mgmt::CommonRsp::from_xdr(body).unwrap();
        }
        (prog::HANDSHAKE, 1) => {
            SetvolumeReq::from_xdr(args).unwrap();
            SetvolumeRsp::from_xdr(body).unwrap();
        }
        (prog::HANDSHAKE, 2) => {
            GetspecReq::from_xdr(args).unwrap();
            GetspecRsp::from_xdr(body).unwrap();
        }
        (prog::PORTMAP, 1) => {
            PortByBrickReq::from_xdr(args).unwrap();
            PortByBrickRsp::from_xdr(body).unwrap();
        }
        other => panic!("unexpected program/procedure {other:?}"),
    }
}

fn reply_of<R: Xdr>(recs: &BTreeMap<String, Vec<u8>>, label: &str) -> R {
    let (status, body) = reply_body(&recs[&format!("{label}.reply")]);
    assert_eq!(status, ReplyStatus::Success, "{label}");
    let mut d = xdr::Decoder::new(body);
    R::decode(&mut d).unwrap()
}

#[test]
fn decoded_values_match_the_transcripts() {
    let r = load("fops.json");
    let create: CreateRsp = reply_of(&r, "CREATE");
    let gfid: Gfid = "dcf7f343-aee3-44e4-8394-46c0f9034737".parse().unwrap();
    assert_eq!(create.stat.gfid, gfid);
    assert_eq!(create.stat.ino, 9481280910147143479);
    assert_eq!(create.stat.mode, 0o100644);
    assert_eq!(create.fd, 0);
    assert_eq!(create.xdata.get("gfid-req"), Some(&DictValue::Gfid(gfid)));

    let eexist: CreateRsp = reply_of(&r, "CREATE.eexist");
    assert_eq!((eexist.op_ret, eexist.op_errno), (-1, 17));
    assert!(!eexist.stat.is_valid());

    let write: TwoIattRsp = reply_of(&r, "WRITE.xdata");
    assert_eq!(write.op_ret, 5);
    assert_eq!(write.poststat.size, 4101);
    assert_eq!(write.poststat.mtime, 1795594956);
    assert_eq!(write.poststat.mtime_nsec, 707202138);

    let getx: DictRsp = reply_of(&r, "GETXATTR");
    assert_eq!(getx.op_ret, 14);
    assert_eq!(
        getx.dict.get("user.fixture"),
        Some(&DictValue::Ptr(b"fixture\x00value\xff".to_vec()))
    );

    let root: TwoIattRsp = reply_of(&r, "LOOKUP.root");
    assert!(root.prestat.gfid.is_root());
    assert_eq!(root.prestat.mode, 0o40755);
    assert!(!root.poststat.is_valid());

    let seek: SeekRsp = reply_of(&r, "SEEK.enxio");
    assert_eq!((seek.op_ret, seek.op_errno), (-1, 6));

    let (_, body) = reply_body(
        &r["PORTBYBRICK.reply"
            .replace("PORT", "glusterd.PORT")
            .as_str()],
    );
    let port = PortByBrickRsp::from_xdr(body).unwrap();
    assert_eq!(port.op_ret, 0);
    assert!(port.port > 49151);

    let sv: SetvolumeRsp = reply_of(&r, "brick.SETVOLUME");
    assert_eq!(sv.op_ret, 0);
    assert_eq!(sv.dict.get_str("ERROR").as_deref(), Some("Success"));
    assert!(sv.dict.get_str("volume-id").is_some());
    let eacces: SetvolumeRsp = reply_of(&r, "brick.SETVOLUME.eacces");
    assert_eq!((eacces.op_ret, eacces.op_errno), (-1, 13));

    let spec: GetspecRsp = reply_of(&r, "glusterd.GETSPEC");
    assert_eq!(spec.op_ret as usize, spec.spec.len());
    let enoent: GetspecRsp = reply_of(&r, "glusterd.GETSPEC.enoent");
    assert_eq!((enoent.op_ret, enoent.op_errno), (-1, 2));

    let dump: DumpRsp = reply_of(&r, "glusterd.DUMP");
    assert!(dump
        .programs
        .iter()
        .any(|p| p.program == u64::from(prog::PORTMAP)));

    let page: ReaddirpRsp = reply_of(&r, "READDIRP.page1");
    assert_eq!(page.op_ret as usize, page.entries.0.len());
}

#[test]
fn readdirp_root_has_dotdot_with_zero_gfid() {
    let r = load("vsingle.json");
    let rd: ReaddirpRsp = reply_of(&r, "READDIRP");
    let dotdot = rd.entries.0.iter().find(|e| e.name == b"..").unwrap();
    assert!(!dotdot.stat.is_valid());
    assert_eq!(dotdot.stat.flags, 0x16ff);
    assert_eq!(dotdot.d_ino, u64::MAX);
    let rep = load("vrep3.json");
    let rd: ReaddirpRsp = reply_of(&rep, "READDIRP");
    assert!(rd
        .entries
        .0
        .iter()
        .any(|e| e.name.starts_with(b".glusterfs-anonymous-inode-")));
}

#[test]
fn rpc_errors() {
    let r = load("fops.json");
    let cases = [
        (
            "rpc.PROC_UNAVAIL",
            ReplyStatus::Accepted(AcceptError::ProcUnavail),
        ),
        (
            "rpc.PROG_UNAVAIL",
            ReplyStatus::Accepted(AcceptError::ProgUnavail),
        ),
        (
            "rpc.PROG_MISMATCH",
            ReplyStatus::Accepted(AcceptError::ProgMismatch { low: 0, high: 0 }),
        ),
        (
            "LOOKUP.garbage_args",
            ReplyStatus::Accepted(AcceptError::GarbageArgs),
        ),
    ];
    for (label, want) in cases {
        let (status, body) = reply_body(&r[&format!("{label}.reply")]);
        assert_eq!(status, want, "{label}");
        assert!(body.is_empty(), "{label}: no results");
    }
}

#[test]
fn callbacks_are_calls_with_server_xids() {
    let r = load("fops.json");
    for label in [
        "callback.FETCHSPEC.call",
        "callback.INODELK_CONTENTION.call",
    ] {
        match decode_incoming(message(&r[label])).unwrap() {
            Incoming::Call { xid, program, .. } => {
                assert_eq!(program, prog::CALLBACK);
                assert_eq!(xid, 1);
            }
            other => panic!("{label}: {other:?}"),
        }
    }
}

#[test]
fn truncated_records_never_panic() {
    for file in ["fops.json", "vec.json"] {
        let recs = load(file);
        for (key, rec) in &recs {
            let msg = message(rec);
            // Every prefix: header decode or body decode must fail or succeed, never panic.
            for cut in (0..msg.len()).step_by(7) {
                let part = &msg[..cut];
                if let Ok(Incoming::Reply { body, .. }) = decode_incoming(part) {
                    let body = &part[body..];
                    let _ = CreateRsp::from_xdr(body);
                    let _ = ReaddirpRsp::from_xdr(body);
                    let _ = TwoIattRsp::from_xdr(body);
                    let _ = GetspecRsp::from_xdr(body);
                    let _ = DumpRsp::from_xdr(body);
                    let _ = SetvolumeRsp::from_xdr(body);
                }
            }
            assert!(!key.is_empty());
        }
    }
}
