/* Resolves COUNT names PREFIX<i>.profiler.test through getaddrinfo (IPv4 only,
 * so one query per lookup), one after another, after an optional start delay,
 * and stays alive for an optional end delay (so its stacks can be symbolised).
 * Names starting with "nx" are answered NXDOMAIN by Fixtures/dns_responder.py.
 * Prints one line per lookup: name, getaddrinfo's return code. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((noinline)) int resolve_slowly(const char *host)
{
	struct addrinfo hints, *result = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(host, NULL, &hints, &result);
	if (rc == 0)
		freeaddrinfo(result);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s COUNT PREFIX [START_DELAY_MS [END_DELAY_MS]]\n", argv[0]);
		return 2;
	}
	int count = atoi(argv[1]);
	if (argc > 3)
		usleep(atoi(argv[3]) * 1000);
	for (int i = 0; i < count; i++) {
		char name[256];
		snprintf(name, sizeof(name), "%s%d.profiler.test", argv[2], i);
		int rc = resolve_slowly(name);
		printf("%s %d\n", name, rc);
		fflush(stdout);
	}
	if (argc > 4)
		usleep(atoi(argv[4]) * 1000);
	return 0;
}
