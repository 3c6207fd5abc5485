"""Demo data for `flask seed-demo`: accounts of every role, categories, and projects in every state.

Safe to run any number of times: what exists (matched by email, slug or title) is left alone.
Paid pledges here skip the provider but are booked in the ledger like real payments.
"""
import io
import random
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from PIL import Image, ImageDraw
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from crowdfund import (accounts, comments, follows, guarantees, ledger, legal, lifecycle, media, messaging, phones,
                       pledging, projects, review, settlement, updates, visits)
from crowdfund.catalog import ensure_categories
from crowdfund.extensions import db
from crowdfund.models import (Category, Comment, Pledge, PledgeStatus, Project, ProjectStatus, Role, SandboxTrade,
                              Visit)
from crowdfund.models.base import utcnow

# Listed in README; for the demo site only.
DEMO_USERS = [
    ("admin@demo.crowdfund.test", "管理员 Admin", "demo-admin-pass", [Role.ADMIN]),
    ("moderator@demo.crowdfund.test", "审核员 Moderator", "demo-moderator-pass", [Role.MODERATOR]),
    ("finance@demo.crowdfund.test", "财务 Finance", "demo-finance-pass", [Role.FINANCE]),
    ("creator@demo.crowdfund.test", "发起人 Creator", "demo-creator-pass", [Role.CREATOR]),
    ("maker@demo.crowdfund.test", "造物工作室 Maker Studio", "demo-maker-pass", [Role.CREATOR]),
    ("backer@demo.crowdfund.test", "支持者 Backer", "demo-backer-pass", []),
]
# The creators launch projects, which needs a verified phone (SPEC 5.3); they log in with it too (/dev/sms).
DEMO_PHONES = {"creator@demo.crowdfund.test": "+8613800138001", "maker@demo.crowdfund.test": "+8613800138002"}
DEMO_BACKERS = [(f"backer{i}@demo.crowdfund.test", f"支持者{i}号", "demo-backer-pass") for i in range(1, 7)]

S = ProjectStatus
# title, summary, subcategory, status, goal (yuan), days, flexible?, tiers [(title, yuan, limit, physical)], funded %, featured
PROJECTS = [
    ("会学习的智能台灯", "根据作息自动调节色温的护眼台灯", "smart-hardware", S.LIVE, 50000, 30, False,
     [("早鸟价台灯", 199, 3, True), ("标准版台灯", 259, None, True), ("双灯家庭装", 489, 200, True)], 86, True),
    ("折叠电动自行车", "十二公斤、可进地铁的城市通勤车", "smart-hardware", S.LIVE, 300000, 45, False,
     [("早鸟整车", 2999, 50, True), ("整车标准版", 3499, None, True)], 42, True),
    ("蓝牙机械键盘 K8", "热插拔轴体、三模连接的小尺寸键盘", "gadgets", S.LIVE, 80000, 30, False,
     [("键帽套装", 99, None, True), ("K8 键盘", 499, 500, True)], 131, False),
    ("手账记账 App 高级版", "离线优先、隐私友好的记账应用", "software", S.LIVE, 20000, 20, True,
     [("终身会员", 68, None, False), ("家庭共享版", 128, None, False)], 64, False),
    ("《长安十二时辰》设定集", "收录三百幅原画与分镜的精装设定集", "publishing", S.LIVE, 120000, 40, False,
     [("电子版", 39, None, False), ("精装实体书", 168, None, True), ("签名限定版", 398, 100, True)], 77, True),
    ("国风动画短片《山海》", "十分钟的水墨风动画短片", "animation", S.LIVE, 150000, 50, False,
     [("片尾鸣谢", 20, None, False), ("原画明信片", 88, None, True)], 23, False),
    ("景德镇手作茶具", "青白瓷一壶四杯，匠人手工拉坯", "crafts", S.LIVE, 60000, 30, False,
     [("品茗杯一只", 128, None, True), ("一壶四杯礼盒", 699, 80, True)], 95, False),
    ("桌游《丝绸之路》", "二到五人的策略交易桌游", "tabletop", S.LIVE, 90000, 35, False,
     [("标准版", 268, None, True), ("豪华版含扩展", 398, 300, True)], 158, True),
    ("独立游戏《孤岛灯塔》", "像素风解谜冒险游戏", "video-games", S.LIVE, 100000, 30, False,
     [("Steam 激活码", 48, None, False), ("实体典藏版", 298, 200, True)], 12, False),
    ("民谣专辑《南方的河》", "十首原创民谣，黑胶与 CD 同步发行", "albums", S.LIVE, 40000, 30, False,
     [("数字专辑", 30, None, False), ("黑胶唱片", 268, 150, True)], 58, False),
    ("云南古树红茶", "临沧百年古树一芽二叶", "farm-produce", S.LIVE, 30000, 25, True,
     [("品鉴装 50 克", 69, None, True), ("礼盒装 250 克", 298, None, True)], 71, False),
    ("乡村小学图书角", "为二十所乡村小学建立图书角", "education", S.LIVE, 200000, 60, True,
     [], 34, True),
    ("极简帆布背包", "防泼水、可登机的通勤背包", "fashion", S.LIVE, 50000, 30, False,
     [("背包一只", 239, None, True)], 3, False),
    ("纪录片《最后的船工》", "记录长江最后一代木船工匠", "documentary", S.SUCCESSFUL, 80000, 30, False,
     [("片尾鸣谢", 50, None, False), ("蓝光碟", 168, None, True)], 124, False),
    ("黄铜钢笔", "手工车削黄铜笔杆，可换墨囊", "stationery", S.DELIVERING, 30000, 30, False,
     [("钢笔一支", 159, None, True)], 210, False),
    ("原创漫画《猫町》", "治愈系猫咪漫画单行本", "comics", S.COMPLETED, 20000, 30, False,
     [("单行本", 58, None, True)], 180, False),
    ("城市露营炉具", "一体式卡式炉与锅具", "home", S.FAILED, 120000, 30, False,
     [("炉具套装", 399, None, True)], 18, False),
    ("巡回演出《夏夜》", "独立乐队十城巡演", "live", S.CANCELLED, 100000, 30, False,
     [("门票", 120, None, False)], 5, False),
    ("宠物智能喂食器", "远程投喂、余粮提醒", "gadgets", S.SUSPENDED, 60000, 30, False,
     [("喂食器", 299, None, True)], 40, False),
    ("手工辣椒酱", "贵州古法糍粑辣椒", "snacks", S.APPROVED, 20000, 30, False,
     [("三瓶装", 79, None, True)], 0, False),
    ("流浪猫绝育计划", "为社区流浪猫做绝育与疫苗", "animals", S.IN_REVIEW, 50000, 45, True,
     [], 0, False),
    ("AI 写作助手", "帮你整理灵感的写作工具", "software", S.CHANGES_REQUESTED, 50000, 30, False,
     [("年度会员", 199, None, False)], 0, False),
    ("高收益理财俱乐部", "加入即享每年分红", "software", S.REJECTED, 100000, 30, False,
     [("会员", 999, None, False)], 0, False),
    ("短片《归途》", "春运路上的一个故事", "short-film", S.SUBMITTED, 60000, 30, False,
     [("片尾鸣谢", 30, None, False)], 0, False),
    ("手绘城市地图", "十二座城市的手绘地图集", "publishing", S.DRAFT, 30000, 30, False,
     [("地图集", 88, None, True)], 0, False),
]
CHARITIES = {"乡村小学图书角", "流浪猫绝育计划"}
PALETTES = [((194, 65, 12), (251, 191, 36)), ((14, 116, 144), (134, 239, 172)), ((88, 28, 135), (244, 114, 182)),
            ((22, 101, 52), (190, 242, 100)), ((30, 64, 175), (147, 197, 253)), ((127, 29, 29), (253, 186, 116))]


def cover_image(seed):
    """A generated 1600×900 cover: a gradient with a few shapes (no text, so no fonts needed)."""
    rng = random.Random(seed)
    start, end = PALETTES[seed % len(PALETTES)]
    image = Image.new("RGB", (1600, 900))
    draw = ImageDraw.Draw(image)
    for x in range(0, 1600, 8):
        t = x / 1600
        draw.rectangle([x, 0, x + 8, 900], fill=tuple(int(a + (b - a) * t) for a, b in zip(start, end, strict=True)))
    for _ in range(6):
        r = rng.randint(60, 260)
        cx, cy = rng.randint(0, 1600), rng.randint(0, 900)
        shade = tuple(min(255, c + 40) for c in end)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=shade, width=10)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    buffer.seek(0)
    return FileStorage(buffer, filename=f"cover-{seed}.png", content_type="image/png")


def _story(title, summary):
    return (f"## 关于「{title}」\n\n{summary}。我们花了两年时间打磨原型，走访了上百位用户。\n\n"
            f"## 为什么需要你的支持\n\n首批生产需要开模和备料，众筹资金将全部用于生产与交付。\n\n"
            f"- 生产：约 70%\n- 物流与包装：约 20%\n- 平台服务费与税费：约 10%\n\n"
            f"## 团队\n\n我们是一支来自杭州和成都的小团队，之前做过三款量产产品。")


def _ensure_user(email, name, password, roles=()):
    """A demo account; a new one has accepted every legal document (sign-up takes two, the others here)."""
    user, new = accounts.ensure_user(email, name, password, roles)
    if new:
        legal.accept(user, [key for key in legal.DOCUMENTS if key not in legal.SIGNUP])
    return user, new


def _users():
    created = []
    for email, name, password, roles in DEMO_USERS:
        user, new = _ensure_user(email, name, password, roles)
        if new:
            created.append(email)
        if email in DEMO_PHONES and user.phone is None:
            phones.set_verified_phone(user, DEMO_PHONES[email])
            db.session.commit()
    backers = []
    for email, name, password in DEMO_BACKERS:
        user, new = _ensure_user(email, name, password)
        backers.append(user)
        if new:
            created.append(email)
    return created, backers


def _paid_pledges(project, backers, percent, now):
    """Demo progress: paid pledges adding up to about `percent` of the goal.

    Reward pledges pay their tier's price (physical ones with a demo address); support without a
    reward makes up the rest. Each payment exists at the sandbox provider too, so refunds,
    cancellations, tier changes and reconciliation work on demo pledges like on real ones.
    """
    if not percent:
        return
    target = project.goal_fen * percent // 100
    base = min(now, project.end_at) if project.end_at else now
    amounts = []
    for i in range(40):
        if sum(a for _, a in amounts) >= target:
            break
        tier = project.tiers[i % len(project.tiers)] if project.tiers else None
        if tier is None:
            break
        if tier.quantity_limit is not None and tier.taken >= tier.quantity_limit:
            continue
        tier.taken += 1  # the slot a paid pledge occupies (see crowdfund.pledging)
        amounts.append((tier, tier.price_fen))
    rest = target - sum(a for _, a in amounts)
    if rest > 0:
        parts = 3 if rest >= 300 else 1
        amounts += [(None, rest // parts)] * (parts - 1) + [(None, rest - rest // parts * (parts - 1))]
    for i, (tier, amount) in enumerate(amounts):
        backer = backers[i % len(backers)]
        out_trade_no = pledging.new_out_trade_no(now)
        paid_at = base - timedelta(hours=3 * (len(amounts) - i) + 1)  # oldest first, as they would arrive
        pledge = Pledge(project_id=project.id, tier_id=tier.id if tier else None, backer_id=backer.id,
                        amount_fen=amount, paid_fen=amount, status=PledgeStatus.PAID, paid_at=paid_at,
                        created_at=paid_at, out_trade_no=out_trade_no, trade_no=f"DEMO{out_trade_no}")
        if tier is not None and tier.physical:
            pledge.ship_region, pledge.ship_name, pledge.ship_phone = "mainland", backer.display_name, \
                f"1380013{i:04d}"
            pledge.ship_province, pledge.ship_city, pledge.ship_district = "上海市", "上海市", "徐汇区"
            pledge.ship_detail = f"漕溪北路 {i + 1} 号"
        db.session.add(pledge)
        if current_app.config["PAYMENT_SANDBOX"]:
            db.session.add(SandboxTrade(out_trade_no=out_trade_no, trade_no=f"DEMO{out_trade_no}",
                                        app_id=current_app.config["ALIPAY_APP_ID"], total_fen=amount,
                                        subject=project.title, status="TRADE_SUCCESS", channel="pc", paid_at=paid_at))
        ledger.post("payment", f"payment:{out_trade_no}", [(ledger.clearing("alipay"), amount),
                                                           (ledger.escrow(project.id), -amount)],
                    project_id=project.id, now=paid_at)
        db.session.flush()


def _move(project, status, moderator, now):
    """Walk the project through the lifecycle to `status`, as reviewers and the scheduler would."""
    if status == S.DRAFT:
        return
    lifecycle.transition(project, S.SUBMITTED, actor=project.creator, reason="demo")
    if status == S.SUBMITTED:
        return
    if status == S.REJECTED:
        lifecycle.transition(project, S.IN_REVIEW, reason="machine review passed")
        review.reject(project, moderator, "承诺分红，属于变相理财，平台不允许。")
        return
    review.run_machine_review(project.id)
    if project.status != S.IN_REVIEW:
        lifecycle.transition(project, S.IN_REVIEW, reason="demo")
    if status == S.IN_REVIEW:
        return
    if status == S.CHANGES_REQUESTED:
        review.request_changes(project, moderator, {"story": "请补充产品的隐私保护说明和数据存储位置。",
                                                    "rewards": "请说明年度会员到期后的续费价格。"})
        return
    if status == S.APPROVED:
        review.approve(project, moderator, launch_at=now + timedelta(days=3), now=now)
        return
    ended = status in (S.SUCCESSFUL, S.FAILED, S.DELIVERING, S.COMPLETED)
    review.approve(project, moderator, now=now)
    project.launch_at = now - timedelta(days=project.duration_days + 5 if ended else 6)
    project.end_at = project.launch_at + timedelta(days=project.duration_days)
    db.session.commit()
    if status in (S.SUCCESSFUL, S.DELIVERING, S.COMPLETED):
        lifecycle.transition(project, S.SUCCESSFUL, reason="goal reached at deadline", now=now)
        if status in (S.DELIVERING, S.COMPLETED):
            lifecycle.transition(project, S.DELIVERING, actor=project.creator, reason="rewards shipping")
        if status == S.COMPLETED:
            lifecycle.transition(project, S.COMPLETED, actor=project.creator, reason="all rewards delivered")
    elif status == S.FAILED:
        lifecycle.transition(project, S.FAILED, reason="goal not reached at deadline", now=now)
    elif status in (S.CANCELLED, S.SUSPENDED):
        lifecycle.transition(project, status, actor=moderator, reason="demo")


DEMO_COMMENTS = ["做工扎实，和描述一致。", "包装很用心，发货也快。", "比预期晚了几天，但质量不错。"]


def _deliver(project, everything, now):
    """Demo delivery: every reward (or every other one) shipped; some received and rated."""
    for i, pledge in enumerate(db.session.scalars(select(Pledge).where(Pledge.project_id == project.id,
                                                                       Pledge.tier_id.is_not(None))
                                                  .order_by(Pledge.id))):
        shipped = min(project.end_at + timedelta(days=1), now)
        if everything or i % 2 == 0:
            pledge.shipped_at, pledge.carrier, pledge.tracking_number = shipped, "顺丰速运", \
                f"SF{1_000_000_000 + pledge.id}"
        if everything or i % 4 == 0:
            pledge.received_at = min(shipped + timedelta(days=2), now)
            pledge.rating, pledge.rating_comment = 5 - i % 2, DEMO_COMMENTS[i % len(DEMO_COMMENTS)]


def _projects(backers):
    now = utcnow()
    creators = [accounts.find_by_email("creator@demo.crowdfund.test"), accounts.find_by_email("maker@demo.crowdfund.test")]
    existing = set(db.session.scalars(select(Project.title).where(Project.creator_id.in_([c.id for c in creators]))))
    created = 0
    for seed, spec in enumerate(PROJECTS):
        if spec[0] in existing:
            continue
        add_project(spec, creators[seed % 2], backers, seed, now)
        created += 1
    return created


def add_project(spec, creator, backers, seed=0, now=None):
    """One demo project from a PROJECTS-style spec, walked to its status, with its paid pledges; committed."""
    title, summary, sub, status, goal, days, flexible, tiers, percent, featured = spec
    now = now or utcnow()
    moderator = accounts.find_by_email("moderator@demo.crowdfund.test")
    category = db.session.scalar(select(Category).where(Category.slug == sub))
    project = projects.create_draft(creator)
    cover = media.save_image(creator, cover_image(seed))
    charity = title in CHARITIES
    projects.update_basics(project, title=title, summary=summary, category=category,
                           kind="charity" if charity else "reward", cover=cover)
    projects.update_story(project, story_source=_story(title, summary))
    projects.update_funding(project, goal_fen=goal * 100, duration_days=days,
                            funding_mode="flexible" if flexible else "all_or_nothing")
    month = (now + timedelta(days=days + 90)).strftime("%Y-%m")
    for tier_title, price, limit, physical in tiers:
        projects.add_tier(project, title=tier_title, description=f"{tier_title}，含包装与说明书。",
                          price_fen=price * 100, quantity_limit=limit, delivery_month=month, physical=physical,
                          unit_cost_fen=price * 45 if physical else None,
                          shipping={"mainland": 0, "hk_mo_tw": 30_00} if physical else {})
    projects.update_risk(project, risk_disclosure="量产过程中可能遇到模具返工或原材料涨价，届时我们会及时更新进度，"
                                                  "并优先保证已支持用户的交付。",
                         partner_charity="中国乡村发展基金会" if charity else None,
                         charity_certificate=cover if charity else None,
                         fund_use_plan="图书采购 80%，书架与运输 15%，回访 5%。" if charity else None)
    projects.reach_step(project, "preview")
    _move(project, status, moderator, now)
    project.featured = featured
    _paid_pledges(project, backers, percent, now)
    _visits(project, now)
    if status in (S.SUCCESSFUL, S.DELIVERING, S.COMPLETED):
        settlement.book_fee(project)  # as closing does at success
    if status in (S.DELIVERING, S.COMPLETED):
        _deliver(project, everything=status == S.COMPLETED, now=now)
    if status == S.DELIVERING:
        guarantees.add(project, moderator, "华信融资担保有限公司", "91110000100000000A", 10_000_00)
    db.session.commit()
    return project


DEMO_REFERRERS = ["", "self", "weibo.com", "mp.weixin.qq.com", "self", "www.douban.com", "www.zhihu.com"]


def _visits(project, now, days=14):
    """Demo page views for the creator's analytics: the last two weeks of the campaign, derived from the project's
    id and the day (no randomness), a third of them repeat views, some through a share link."""
    if project.launch_at is None or project.launch_at > now:
        return
    last = visits.local_day(min(now, project.end_at or now))
    first = max(visits.local_day(project.launch_at), last - timedelta(days=days - 1))
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        count = 3 + (project.id * 7 + offset * 5) % 11
        for n in range(count):
            moment = datetime.combine(day, time(4), timezone.utc) + timedelta(minutes=37 * n)
            db.session.add(Visit(key=f"demo-{project.id}-{day:%Y%m%d}-{n}", project_id=project.id, day=day,
                                 visitor=f"demo-{project.id}-{n - n // 3}", created_at=moment,
                                 referrer=DEMO_REFERRERS[(project.id + offset + n) % len(DEMO_REFERRERS)],
                                 ref=f"demo{n % 4}" if (offset + n) % 6 == 0 else ""))

def _community(backers):
    """Demo conversation on the lamp: an answered question (also in the FAQ), one waiting for the creator,
    a comment with a reply, a public and a backers-only update, a follower with a reminder, a private message."""
    project = db.session.scalar(select(Project).where(Project.title == PROJECTS[0][0]))
    if project is None or db.session.scalar(select(Comment.id).where(Comment.project_id == project.id).limit(1)):
        return 0
    now, creator = utcnow(), project.creator
    asked = comments.add_comment(project, backers[0], "台灯的色温可以手动调吗？还是只能自动？", is_question=True,
                                 now=now - timedelta(hours=30))
    comments.add_comment(project, creator, "可以。App 和台灯上的旋钮都能手动调，自动模式随时可以关掉。", parent=asked,
                         now=now - timedelta(hours=27))
    comments.promote_to_faq(asked, creator)
    comments.add_comment(project, backers[1], "支持开增值税专用发票吗？", is_question=True, now=now - timedelta(hours=3))
    liked = comments.add_comment(project, backers[2], "去年买过你们的夜灯，质量很好，期待这一款！",
                                 now=now - timedelta(hours=20))
    comments.add_comment(project, backers[3], "同感，夜灯用了一年还像新的。", parent=liked, now=now - timedelta(hours=18))
    updates.post(project, creator, "第一批样机完成", "第一批 **20 台样机** 已经组装完成，下周开始做一个月的老化测试。",
                 now=now - timedelta(days=2))
    updates.post(project, creator, "给支持者的量产排期", "模具已经开好，量产排期和发货顺序见下表：\n\n"
                 "| 批次 | 时间 |\n|---|---|\n| 早鸟 | 第 1 批 |\n| 标准版 | 第 2 批 |", backers_only=True,
                 now=now - timedelta(days=1))
    follows.follow(project, backers[4], remind=True)
    backer = accounts.find_by_email("backer@demo.crowdfund.test")
    follows.follow(project, backer)
    messaging.start(project, backer, "你好，请问双灯家庭装可以分两个地址发货吗？", now=now - timedelta(hours=5))
    return 1


def _risk_alert(backers):
    """One open alert in the moderators' queue: three backers reported the backpack within the hour."""
    from crowdfund import risk
    from crowdfund.models import Report, RiskAlert

    project = db.session.scalar(select(Project).where(Project.title == "极简帆布背包"))
    if project is None or db.session.scalar(select(RiskAlert.id).limit(1)):
        return 0
    now = utcnow()
    texts = [("fraud", "图片和另一家店铺的商品一模一样。"), ("infringement", "背包设计抄袭了某品牌的专利款式。"),
             ("fraud", "创作者的联系方式打不通。")]
    for n, (category, text) in enumerate(texts):
        db.session.add(Report(target_kind="project", target_id=project.id, reporter_id=backers[n].id,
                              category=category, reason=text, created_at=now - timedelta(minutes=50 - 20 * n)))
    db.session.commit()
    return len(risk.check_project(project, now=now))


def _points(backers):
    """Demo points (crowdfund/growth.py): the first demo backer earned points for their paid pledges, and
    backer@demo's share link of the lamp brought three visitors over two days."""
    from crowdfund import growth, points
    from crowdfund.visits import local_day

    project = db.session.scalar(select(Project).where(Project.title == PROJECTS[0][0]))
    backer = accounts.find_by_email("backer@demo.crowdfund.test")
    if project is None or backer is None or points.history(backer.id, 1):
        return 0
    for pledge in db.session.scalars(select(Pledge).where(Pledge.backer_id == backers[0].id,
                                                          Pledge.status == PledgeStatus.PAID).order_by(Pledge.id)):
        growth.credit_backing(pledge, now=pledge.paid_at)
    growth.share_code(backer)
    now = utcnow()
    for n, hours in enumerate((30, 29, 5)):
        at = now - timedelta(hours=hours)
        points.book(backer.id, current_app.config["POINTS_PER_SHARE_VISIT"], growth.SHARE,
                    f"share:{project.id}:demo-visitor-{n}:{local_day(at).isoformat()}", project_id=project.id, now=at)
    db.session.commit()
    return 1


def _coupon():
    """The demo backer holds one ¥5 coupon (its own points, booked once by key), to use on a pledge."""
    from crowdfund import coupons, points

    backer = accounts.find_by_email("backer@demo.crowdfund.test")
    cost = coupons.options()[0][0]
    if backer is None or points.book(backer.id, cost, "demo", "demo:coupon-points") is None:
        return 0
    db.session.commit()
    coupons.redeem(backer, cost)
    return 1


def seed_demo():
    """Create whatever demo data is missing; returns what was created."""
    categories = ensure_categories()
    users, backers = _users()
    created = _projects(backers)
    return {"users": users, "categories": categories, "projects": created, "conversations": _community(backers),
            "risk_alerts": _risk_alert(backers), "points": _points(backers), "coupons": _coupon()}
