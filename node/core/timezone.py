"""The time zone of every node: Vietnam local time, used at the edges only."""

from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
