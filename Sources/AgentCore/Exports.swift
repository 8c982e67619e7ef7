// Container metadata parsed from /proc/PID/cgroup is part of AgentCore's API.
@_exported import CgroupParsing
