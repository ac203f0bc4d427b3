"""The reference product's official Python SDK (alibabacloud-pds20220301) against shareledger.

Run by tests/compat_pds_sdk.rs with the service on a random port:
  SHARELEDGER_URL   http://127.0.0.1:PORT
  OWNER_TOKEN       a bearer token of the owner (a JWT minted with the service's secret)
  OWNER_ID          the owner's user id
  FILE_ID           a file of the owner's drive; FILE_BYTES_HEX its content
  OTHER_FILE_IDS    more files of the owner, comma-separated

Every call's effect is also checked through the native API (/api/v1). Prints one JSON line at
the end: the native ids of the shares it made, for the Rust side to check the log.
"""

import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_pds20220301 import models
from alibabacloud_pds20220301.client import Client
from alibabacloud_tea_openapi import models as open_api_models

BASE = os.environ["SHARELEDGER_URL"]
TOKEN = os.environ["OWNER_TOKEN"]
OWNER = os.environ["OWNER_ID"]
FILE_ID = os.environ["FILE_ID"]
FILE_BYTES = bytes.fromhex(os.environ["FILE_BYTES_HEX"])
OTHER_FILES = os.environ["OTHER_FILE_IDS"].split(",")

STEPS = []


def step(name):
    STEPS.append(name)
    print(f"-- {name}", file=sys.stderr, flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(f"{STEPS[-1] if STEPS else ''}: {what}")


def native(method, path, body=None, headers=None, raw=False):
    """A call to the native API as the owner (or with the given headers)."""
    hdrs = {"authorization": f"Bearer {TOKEN}"} if headers is None else dict(headers)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["content-type"] = "application/json"
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(request) as response:
            content = response.read()
            return response.status, (content if raw else json.loads(content or b"null"))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def native_share(share_id):
    """The native details of the share whose link token is `share_id`."""
    status, page = native("GET", "/api/v1/shares?status=all&limit=100")
    check(status == 200, f"native list: {status} {page}")
    for summary in page["items"]:
        status, details = native("GET", f"/api/v1/shares/{summary['id']}")
        check(status == 200, f"native details: {status}")
        if details["link"].split("?")[0].endswith("/s/" + share_id):
            return details
    raise AssertionError(f"no native share has the link token {share_id}")


def refused(call, code, status):
    """The call fails with the reference's error shape: this code and HTTP status."""
    try:
        call()
    except Exception as e:  # the SDK raises Tea exceptions carrying code, message and data
        check(getattr(e, "code", None) == code, f"expected {code}, got {getattr(e, 'code', None)}: {e}")
        check(e.data.get("statusCode") == status, f"expected HTTP {status}, got {e.data}")
        check(e.message, "an error has a message")
        return e
    raise AssertionError(f"expected {code}, but the call succeeded")


def client(token=TOKEN):
    credential = CredentialClient(CredentialConfig(type="bearer", bearer_token=token))
    endpoint = BASE.removeprefix("http://")
    return Client(open_api_models.Config(credential=credential, endpoint=endpoint, protocol="http"))


def names(page):
    return [item.share_name for item in page.items]


def main():
    pds = client()
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)).replace(microsecond=0)
    expiration = later.strftime("%Y-%m-%dT%H:%M:%SZ")

    step("create with a code, a download limit and an expiration")
    created = pds.create_share_link(
        models.CreateShareLinkRequest(
            drive_id=OWNER,
            file_id_list=[FILE_ID],
            share_name="Quarterly HD.mp4 review",
            description="For the board",
            share_pwd="s3cret-1",
            download_limit=5,
            expiration=expiration,
        )
    ).body
    share_id = created.share_id
    check(share_id and created.share_pwd == "s3cret-1", f"create answered {created.to_map()}")
    check(created.download_limit == 5 and created.preview_limit == 0, "limits")
    check(created.status == "enabled" and created.expired is False, "status")
    check(created.file_id_list == [FILE_ID] and created.creator == OWNER and created.drive_id == OWNER, "owner and items")
    check(created.expiration.startswith(later.strftime("%Y-%m-%dT%H:%M:%S")), f"expiration {created.expiration}")
    check(created.disable_download is False and created.disable_save is False, "permissions")
    details = native_share(share_id)
    check(details["name"] == "Quarterly HD.mp4 review" and details["message"] == "For the board", "native name")
    check(details["access_code"] == "s3cret-1" and details["limits"]["download"] == 5, f"native {details}")
    check(details["expires_at"].startswith(later.strftime("%Y-%m-%dT%H:%M:%S")), "native expiry")
    check(details["permissions"] == {"preview": True, "download": True, "save": True, "upload": False, "edit": False},
          f"native permissions {details['permissions']}")
    native_id = details["id"]

    step("get")
    got = pds.get_share_link(models.GetShareLinkRequest(share_id=share_id)).body
    check(got.to_map() == created.to_map(), f"get {got.to_map()} differs from create {created.to_map()}")

    step("update name, limits, code and a permission")
    updated = pds.update_share_link(
        models.UpdateShareLinkRequest(
            share_id=share_id,
            share_name="Renamed HD.mp4",
            download_limit=7,
            preview_limit=3,
            share_pwd="n3w-code",
            disable_save=True,
        )
    ).body
    check(updated.share_name == "Renamed HD.mp4" and updated.share_pwd == "n3w-code", f"update {updated.to_map()}")
    check(updated.download_limit == 7 and updated.preview_limit == 3 and updated.disable_save is True, "update limits")
    check(updated.description == "For the board" and updated.expiration == created.expiration, "untouched fields")
    details = native_share(share_id)
    check(details["id"] == native_id and details["name"] == "Renamed HD.mp4", "native rename")
    check(details["access_code"] == "n3w-code", "native code")
    check(details["limits"]["download"] == 7 and details["limits"]["preview"] == 3, f"native limits {details['limits']}")
    check(details["permissions"]["save"] is False and details["permissions"]["download"] is True, "native permissions")

    step("more shares to search")
    batch = []
    for i, file_id in enumerate(OTHER_FILES):
        link = pds.create_share_link(
            models.CreateShareLinkRequest(file_id_list=[file_id], share_name=f"batch-{i} clip.mp4")
        ).body
        batch.append(link)
    plain = pds.create_share_link(models.CreateShareLinkRequest(file_id_list=[OTHER_FILES[0]])).body
    check(plain.share_name == "file-0.bin", f"the default name is the first file's: {plain.share_name}")

    step("search by fuzzy name, paging with marker")
    seen, marker, pages = [], "", 0
    while True:
        page = pds.search_share_link(
            models.SearchShareLinkRequest(
                query="share_name_for_fuzzy match 'clip'", limit=2, marker=marker, order_by="share_name",
                order_direction="ASC", return_total_count=True,
            )
        ).body
        pages += 1
        check(page.total_count == len(batch), f"total_count {page.total_count}")
        seen += names(page)
        marker = page.next_marker
        if not marker:
            break
    check(seen == [f"batch-{i} clip.mp4" for i in range(len(batch))], f"paged search found {seen}")
    check(pages == (len(batch) + 1) // 2, f"{pages} pages")
    status, native_page = native("GET", "/api/v1/shares?q=clip&status=all&limit=100")
    check(sorted(s["name"] for s in native_page["items"]) == seen, "native search agrees")

    step("search by created_at range")
    first, last = batch[1].created_at, batch[3].created_at
    page = pds.search_share_link(
        models.SearchShareLinkRequest(
            query=f"created_at >= '{first}' and created_at <= '{last}'", order_by="created_at", order_direction="ASC",
        )
    ).body
    check(names(page) == ["batch-1 clip.mp4", "batch-2 clip.mp4", "batch-3 clip.mp4"], f"range found {names(page)}")
    status, native_page = native("GET", f"/api/v1/shares?created_after={urllib.parse.quote(first)}&status=all&order=asc")
    check([s["name"] for s in native_page["items"]][:3] == names(page), "native range agrees")

    step("cancel one and search by status")
    pds.cancel_share_link(models.CancelShareLinkRequest(share_id=batch[0].share_id))
    status, cancelled = native("GET", "/api/v1/shares?status=cancelled")
    check([s["name"] for s in cancelled["items"]] == ["batch-0 clip.mp4"], f"native cancelled {cancelled}")
    page = pds.search_share_link(models.SearchShareLinkRequest(query="status = 'disabled'")).body
    check(names(page) == ["batch-0 clip.mp4"] and page.items[0].status == "disabled", f"disabled {names(page)}")
    page = pds.search_share_link(
        models.SearchShareLinkRequest(
            query="status in ['enabled'] and (share_name_for_fuzzy match 'clip' or share_name_for_fuzzy match 'HD.mp4')",
            order_by="created_at", order_direction="ASC",
        )
    ).body
    check(names(page) == ["Renamed HD.mp4"] + [f"batch-{i} clip.mp4" for i in range(1, len(batch))], f"{names(page)}")
    page = pds.search_share_link(models.SearchShareLinkRequest(query="expired_time = '1970-01-01T00:00:00'")).body
    check(sorted(names(page)) == sorted([b.share_name for b in batch] + [plain.share_name]), "permanent ones")
    page = pds.search_share_link(models.SearchShareLinkRequest(query=f"expired_time > '{created.created_at}'")).body
    check(names(page) == ["Renamed HD.mp4"], f"expiring ones {names(page)}")

    step("list, with and without the cancelled")
    listed, marker = [], ""
    while True:
        page = pds.list_share_link(models.ListShareLinkRequest(limit=3, marker=marker, creator=OWNER)).body
        listed += names(page)
        marker = page.next_marker
        if not marker:
            break
    status, native_active = native("GET", "/api/v1/shares?status=active&limit=100")
    check(sorted(listed) == sorted(s["name"] for s in native_active["items"]), f"list {listed}")
    check("batch-0 clip.mp4" not in listed and len(listed) == len(batch) + 1, f"list {listed}")
    page = pds.list_share_link(models.ListShareLinkRequest(include_cancelled=True, limit=100)).body
    check("batch-0 clip.mp4" in names(page) and len(page.items) == len(batch) + 2, f"with cancelled {names(page)}")

    step("get_share_token: wrong code refused, right code opens")
    anonymous = client(token="unused: these two actions are anonymous")
    refused(lambda: anonymous.get_share_link_token(models.GetShareLinkTokenRequest(share_id=share_id, share_pwd="wrong-1")),
            "Forbidden.AccessCodeWrong", 403)
    refused(lambda: anonymous.get_share_link_token(models.GetShareLinkTokenRequest(share_id=share_id)),
            "Unauthorized.AccessCodeRequired", 401)
    facts = anonymous.get_share_link_by_anonymous(models.GetShareLinkByAnonymousRequest(share_id=share_id)).body
    check(facts.share_name == "Renamed HD.mp4" and facts.has_pwd is True, f"anonymous {facts.to_map()}")
    token = anonymous.get_share_link_token(models.GetShareLinkTokenRequest(share_id=share_id, share_pwd="n3w-code")).body
    check(7100 < token.expires_in <= 7200, f"expires_in {token.expires_in}")
    short = anonymous.get_share_link_token(
        models.GetShareLinkTokenRequest(share_id=share_id, share_pwd="n3w-code", expire_sec=600)
    ).body
    check(590 < short.expires_in <= 600, f"expires_in {short.expires_in}")
    refused(lambda: anonymous.get_share_link_token(
        models.GetShareLinkTokenRequest(share_id=share_id, share_pwd="n3w-code", expire_sec=7201)),
        "InvalidParameter.ExpireSec", 400)
    session = {"x-share-session": token.share_token}
    status, items = native("GET", f"/api/v1/links/{share_id}/items", headers=session)
    check(status == 200 and [i["id"] for i in items["items"]] == [FILE_ID], f"items {status} {items}")
    status, content = native("GET", f"/api/v1/links/{share_id}/items/{FILE_ID}/download", headers=session, raw=True)
    check(status == 200 and content == FILE_BYTES, f"download {status}")
    after = pds.get_share_link(models.GetShareLinkRequest(share_id=share_id)).body
    check(after.download_count == 1 and after.access_count == 2, f"counters {after.to_map()}")

    step("cancel; get shows disabled; the link is gone")
    pds.cancel_share_link(models.CancelShareLinkRequest(share_id=share_id))
    got = pds.get_share_link(models.GetShareLinkRequest(share_id=share_id)).body
    check(got.status == "disabled", f"after cancel {got.status}")
    check(native_share(share_id)["status"] == "cancelled", "native cancelled")
    refused(lambda: anonymous.get_share_link_token(models.GetShareLinkTokenRequest(share_id=share_id, share_pwd="n3w-code")),
            "Gone.ShareCancelled", 410)
    refused(lambda: pds.update_share_link(models.UpdateShareLinkRequest(share_id=share_id, status="enabled")),
            "Conflict.ShareCancelled", 409)
    refused(lambda: pds.cancel_share_link(models.CancelShareLinkRequest(share_id=share_id)), "Conflict.ShareCancelled", 409)

    step("errors: query syntax, unknown share, bad values")
    bad = "created_at >= '2022-01-01T00:00:00' and"
    e = refused(lambda: pds.search_share_link(models.SearchShareLinkRequest(query=bad)), "InvalidParameter.Query", 400)
    check(f"at position {len(bad) + 1}" in e.message, f"the message points at the end: {e.message}")
    e = refused(lambda: pds.search_share_link(models.SearchShareLinkRequest(query="share_name = 'x'")),
                "InvalidParameter.Query", 400)
    check("unknown field `share_name`" in e.message and "position 1" in e.message, e.message)
    refused(lambda: pds.get_share_link(models.GetShareLinkRequest(share_id="no-such-link-0000000000000")),
            "NotFound.ShareLink", 404)
    refused(lambda: pds.create_share_link(models.CreateShareLinkRequest(file_id_list=[FILE_ID], expiration="soon")),
            "InvalidParameter.Expiration", 400)
    refused(lambda: pds.create_share_link(models.CreateShareLinkRequest(file_id_list=[FILE_ID], share_all_files=True)),
            "InvalidParameter.NotSupported", 400)
    refused(lambda: pds.list_share_link(models.ListShareLinkRequest(limit=101)), "InvalidParameter.Limit", 400)
    refused(lambda: pds.search_share_link(models.SearchShareLinkRequest(creators=["someone-else"])),
            "Forbidden.OtherCreators", 403)
    unsigned = client(token="not-a-token")
    refused(lambda: unsigned.list_share_link(models.ListShareLinkRequest()), "Unauthorized", 401)

    step("the share's history holds every change as events")
    status, history = native("GET", f"/api/v1/shares/{native_id}/history")
    types = [e["type"] for e in history["events"]]
    for wanted in ["ShareCreated", "ShareRenamed", "ShareLimitsChanged", "ShareAccessCodeChanged",
                   "SharePermissionsChanged", "AccessRefused", "ShareOpened", "FileDownloaded", "ShareCancelled"]:
        check(wanted in types, f"{wanted} missing from {types}")

    print(json.dumps({"main": native_id, "steps": len(STEPS)}))


if __name__ == "__main__":
    main()
