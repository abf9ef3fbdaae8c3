from django.core.management.base import BaseCommand, CommandError

from segments.models import Segment
from segments.services import segment_refresh, segments_refresh_all


class Command(BaseCommand):
    help = "Count the customers of every segment (or of the segments named by slug) again."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Only these segments.")

    def handle(self, *args, slugs, **options):
        if slugs:
            segments = list(Segment.objects.filter(slug__in=slugs))
            missing = sorted(set(slugs) - {segment.slug for segment in segments})
            if missing:
                raise CommandError(f"No segment with the slug {', '.join(missing)}.")
            counts = {segment.slug: segment_refresh(segment) for segment in segments}
        else:
            counts = segments_refresh_all()
        for slug, count in counts.items():
            self.stdout.write(f"{slug}: {count:,}")
        self.stdout.write(self.style.SUCCESS(f"{len(counts)} segments counted."))
